#!/usr/bin/env node
/**
 * Bundles the CLI (packages/agentd/dist/cli/main.js, the tsc output) with esbuild into
 * packages/agentd/dist-cli/, as CommonJS with a V8 code cache:
 *
 * - `main.js`: the loader (the `bin`, and what ./agentd runs). It picks the bundle of the
 *   command named first, reads it and compiles it with node:vm's `cachedData`, the V8 code
 *   cache this build made for it, so a start deserializes compiled code instead of parsing
 *   and compiling the CLI's JavaScript again.
 * - `client.cjs` (every command that talks to a daemon: exec, sandbox, cp...), `local.cjs`
 *   (run, doctor, config, image) and `serve.cjs` (the daemon): each the whole program
 *   (every command's definition, for help and usage errors), with only its own commands'
 *   code: the dynamic imports of the other groups' code are left out (a stub that throws,
 *   which the loader's routing never reaches). One bundle per process, so no module is ever
 *   loaded twice (error classes and other shared state stay single).
 * - `<bundle>.cjs.cache`: made at the end of the build by running each bundle once (a
 *   command that fails early, without a daemon or a sandbox); it records the functions that
 *   run compiled. It carries this build's id: the loader ignores a cache of another build,
 *   and V8 itself rejects one of another V8 version or other flags (the loader then compiles
 *   from source as any script).
 *
 * Why CommonJS: an ES module graph costs the ESM loader's resolve/translate/link per module at
 * every start and has no code cache before Node 22 (module.enableCompileCache); one CommonJS
 * file per command group costs one read and, with the cache, almost no compile.
 *
 * Third-party packages other than those in BUNDLED stay external (loaded from node_modules as
 * the unbundled build does): their own file lookups, native addons and worker files work
 * unchanged. The bundle sits one folder below packages/agentd, as dist/ does, so
 * `new URL('../native/...', import.meta.url)` (native-paths.ts) finds the same files from
 * either build. Build output, not committed (.gitignore).
 *
 * Run by `npm run build` after tsc. Usage: node scripts/bundle-cli.mjs [--metafile FILE] [--no-code-cache]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = join(root, 'packages/agentd');
const entry = join(pkg, 'dist/cli/main.js');
const outdir = join(pkg, 'dist-cli');

if (!existsSync(entry)) {
  console.error(`bundle-cli: ${entry} is missing: run tsc first (npm run build)`);
  process.exit(1);
}
const { LOCAL_COMMANDS } = await import(pathToFileURL(join(pkg, 'dist/cli/command-groups.js')).href);

/**
 * Bundled: our own code (both workspaces), commander (every command), zod and smol-toml (the
 * config, which `run`, `config` and `doctor` read): plain JavaScript of many small modules.
 */
const BUNDLED = new Set(['commander', '@agentd/sdk', 'zod', 'smol-toml']);

/** The command definitions (dist/cli/*.js) whose dynamic imports load a local command's code. */
const LOCAL_DEFS = ['run.js', 'doctor.js', 'config-check.js', 'image.js'];
/**
 * Per bundle: the modules (under dist/cli) whose dynamic imports it leaves out. main-program.js's
 * only dynamic import is the client commands (client/index.js); serve.js's is the daemon.
 */
const BUNDLES = {
  client: [...LOCAL_DEFS, 'serve.js'],
  local: ['main-program.js', 'serve.js'],
  serve: ['main-program.js', ...LOCAL_DEFS],
};

const buildId = randomBytes(8).toString('hex');
const cliDir = join(pkg, 'dist/cli');

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
// The loader and bundles are CommonJS (the package itself is "type": "module").
writeFileSync(join(outdir, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);

const metas = {};
for (const [name, leaveOut] of Object.entries(BUNDLES)) {
  const leftOut = new Set(leaveOut.map((f) => join(cliDir, f)));
  const stubbed = new Set();
  const result = await build({
    entryPoints: [entry],
    outfile: join(outdir, `${name}.cjs`),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // Less source to read at each start (the config's zod alone is ~750 kB unminified);
    // names kept: error classes and their names show in messages.
    minify: true,
    keepNames: true,
    logLevel: 'warning',
    // import() becomes a require (the bundle runs as a node:vm script, which has no import() of its own).
    supported: { 'dynamic-import': false },
    // import.meta.url (native-paths.ts, peercred-native.ts) is the bundle file's URL.
    define: { 'import.meta.url': '__agentdBundleUrl' },
    banner: { js: `/* agentd CLI bundle '${name}', build ${buildId} */\nconst __agentdBundleUrl = require('node:url').pathToFileURL(__filename).href;` },
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
        // Another group's code: a stub that fails loudly (the loader never routes there).
        name: 'left-out-groups',
        setup(b) {
          b.onResolve({ filter: /^\./ }, (args) => {
            if (args.kind !== 'dynamic-import' || !leftOut.has(args.importer)) return undefined;
            stubbed.add(args.importer);
            return { path: args.path, namespace: 'agentd-left-out', pluginData: { importer: args.importer } };
          });
          b.onLoad({ filter: /.*/, namespace: 'agentd-left-out' }, (args) => ({
            contents: `throw new Error(${JSON.stringify(`internal: ${args.path} (imported by ${args.pluginData.importer.slice(cliDir.length + 1)}) is not in the CLI bundle '${name}': the loader dist-cli/main.js routes this command to another bundle`)});`,
            loader: 'js',
          }));
        },
      },
      {
        name: 'external-packages',
        setup(b) {
          // A bare import of a package not in BUNDLED stays a require, resolved from node_modules at run time.
          b.onResolve({ filter: /^[^./]/ }, (args) => {
            if (args.path.startsWith('node:')) return { external: true };
            const pkgName = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
            return BUNDLED.has(pkgName) ? undefined : { external: true };
          });
        },
      },
    ],
  });
  if (result.metafile) metas[name] = result.metafile;
  // A module moved or renamed: its group's code would be in every bundle (slower starts), or a stub in the wrong place.
  const unmatched = [...leftOut].filter((f) => !stubbed.has(f));
  if (unmatched.length > 0) throw new Error(`bundle-cli: '${name}': no dynamic import left out from ${unmatched.join(', ')}: update BUNDLES`);
  // The entry's '#!' line (esbuild keeps it first) is no JavaScript inside the loader's function wrapper.
  const out = join(outdir, `${name}.cjs`);
  writeFileSync(out, readFileSync(out, 'utf8').replace(/^#![^\n]*\n/, ''));
}

/**
 * The loader. Plain CommonJS with node built-ins only (fs, path, vm are loaded by Node's own
 * start-up anyway). The bundle runs in a function wrapper like any CommonJS module, with the
 * loader's require (the same folder, so the same node_modules).
 */
const loader = `#!/usr/bin/env node
'use strict';
// Made by scripts/bundle-cli.mjs (build ${buildId}): runs the CLI bundle of the command named first with its V8 code cache.
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');
const BUILD = ${JSON.stringify(buildId)};
const LOCAL = new Set(${JSON.stringify([...LOCAL_COMMANDS].filter((c) => c !== 'serve'))});
const first = process.argv[2];
const name = first === 'serve' ? 'serve' : LOCAL.has(first) ? 'local' : 'client';
const file = join(__dirname, name + '.cjs');
const cacheFile = file + '.cache';
const header = Buffer.from('agentd-code-cache ' + BUILD + '\\n');
let cachedData;
let state = 'none';
try {
  const cache = readFileSync(cacheFile);
  if (cache.subarray(0, header.length).equals(header)) cachedData = cache.subarray(header.length);
  else state = 'ignored (another build)';
} catch {
  // no cache (npm run build -- --no-code-cache, or removed): compiled from source
}
const source = readFileSync(file, 'utf8');
const script = new Script('(function (exports, require, module, __filename, __dirname) {' + source + '\\n})', { filename: file, ...(cachedData === undefined ? {} : { cachedData }) });
if (cachedData !== undefined) state = script.cachedDataRejected === true ? 'rejected by V8' : 'used';
if (/\\bcode-cache\\b/.test(process.env.AGENTD_DEBUG ?? '')) process.once('exit', () => process.stderr.write('agentd: code cache ' + name + ': ' + state + '\\n'));
if (process.env.AGENTD_CODE_CACHE_WRITE === BUILD) {
  // The build's training run: the code compiled by the time the process exits goes into the cache.
  process.once('exit', () => {
    writeFileSync(cacheFile + '.new', Buffer.concat([header, script.createCachedData()]));
    renameSync(cacheFile + '.new', cacheFile);
  });
}
const mod = { exports: {}, filename: file, id: file, loaded: false };
// The loader's own require: the bundles sit in its folder, so packages resolve from the same node_modules
// (node:module's createRequire would load the ESM loader's modules for nothing).
script.runInThisContext().call(mod.exports, mod.exports, require, mod, file, __dirname);
`;
writeFileSync(join(outdir, 'main.js'), loader);
chmodSync(join(outdir, 'main.js'), 0o755);

const metaAt = process.argv.indexOf('--metafile');
if (metaAt !== -1) writeFileSync(process.argv[metaAt + 1] ?? join(outdir, 'meta.json'), JSON.stringify(metas));

if (!process.argv.includes('--no-code-cache')) train();

/**
 * One run of each bundle that ends early, without a daemon or a sandbox, in a temp home: the
 * client bundle an `exec` whose daemon socket does not exist (connection refused), the local
 * bundle a `run` on a backend name that does not exist (after the config is read and checked),
 * the serve bundle its help. Their exit status is expected to be non-zero; the cache is what counts.
 */
function train() {
  const home = mkdtempSync(join(tmpdir(), 'agentd-code-cache-'));
  try {
    const config = join(home, 'agentd.toml');
    writeFileSync(config, `home = ${JSON.stringify(home)}\n`);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, AGENTD_HOME: home, AGENTD_CONFIG: config, AGENTD_CODE_CACHE_WRITE: buildId };
    const runs = {
      client: ['exec', '--socket', join(home, 'no-daemon.sock'), 'sbx_codecache', '--', 'true'],
      local: ['run', '--backend', 'no-such-backend', '--', 'true'],
      serve: ['serve', '--help'],
    };
    for (const [name, args] of Object.entries(runs)) {
      const r = spawnSync(process.execPath, [join(outdir, 'main.js'), ...args], { env, cwd: home, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
      if (!existsSync(join(outdir, `${name}.cjs.cache`))) {
        console.error(`bundle-cli: no code cache for '${name}' (the CLI still works, compiled from source at each start): ${String(r.stderr ?? r.error).trim().slice(0, 500)}`);
      }
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
