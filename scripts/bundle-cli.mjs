#!/usr/bin/env node
/**
 * Bundles the CLI (packages/agentd/dist/cli/main.js, the tsc output) with esbuild into
 * packages/agentd/dist-cli/: main.js and the chunks it loads lazily (code splitting keeps
 * `serve`, `run` and the client commands apart). A cold `agentd exec` then reads a few files
 * instead of a few hundred modules. Third-party packages other than those in BUNDLED stay external
 * (loaded from node_modules as the unbundled build does): their own file lookups, native
 * addons and worker files work unchanged. Build output, not committed (.gitignore).
 *
 * The bundle sits one folder below packages/agentd, as dist/ does, so `new URL('../native/...',
 * import.meta.url)` (native-paths.ts) finds the same files from either build.
 *
 * Run by `npm run build` after tsc. Usage: node scripts/bundle-cli.mjs [--metafile FILE]
 */
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = join(root, 'packages/agentd');
const entry = join(pkg, 'dist/cli/main.js');
const outdir = join(pkg, 'dist-cli');

if (!existsSync(entry)) {
  console.error(`bundle-cli: ${entry} is missing: run tsc first (npm run build)`);
  process.exit(1);
}

/**
 * Bundled: our own code (both workspaces), commander (every command), zod and smol-toml (the
 * config, which `run`, `config` and `doctor` read): plain JavaScript of many small modules.
 */
const BUNDLED = new Set(['commander', '@agentd/sdk', 'zod', 'smol-toml']);

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: [entry],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Less source to read and compile at each start (the config's zod alone is ~750 kB unminified);
  // names kept: error classes and their names show in messages.
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  // commander is CommonJS: its require('events') needs a real require in an ES module bundle.
  banner: { js: "import { createRequire as __agentdCreateRequire } from 'node:module'; const require = __agentdCreateRequire(import.meta.url);" },
  metafile: process.argv.includes('--metafile'),
  plugins: [
    {
      // commander requires node:child_process at load time, for executable subcommands, which
      // agentd never uses; child_process pulls in net, dgram and more (~3-6 ms of every start):
      // loaded on first use instead. The patch must apply: a commander that changed fails the build.
      name: 'lazy-child-process-in-commander',
      setup(b) {
        b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
          const text = await readFile(args.path, 'utf8');
          const eager = "const childProcess = require('node:child_process');";
          if (!text.includes(eager)) throw new Error(`bundle-cli: ${args.path} no longer has "${eager}": update the lazy-child-process patch`);
          const lazy = "let __agentdChildProcess; const childProcess = new Proxy({}, { get: (_t, k) => (__agentdChildProcess ??= require('node:child_process'))[k] });";
          return { contents: text.replace(eager, lazy), loader: 'js' };
        });
      },
    },
    {
      name: 'external-packages',
      setup(b) {
        // A bare import of a package not in BUNDLED stays an import, resolved from node_modules at run time.
        b.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.path.startsWith('node:')) return { external: true };
          const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
          return BUNDLED.has(name) ? undefined : { external: true };
        });
      },
    },
  ],
});
chmodSync(join(outdir, 'main.js'), 0o755);
const metaAt = process.argv.indexOf('--metafile');
if (metaAt !== -1 && result.metafile) writeFileSync(process.argv[metaAt + 1] ?? join(outdir, 'meta.json'), JSON.stringify(result.metafile));
