/**
 * Some tests need the backend in a separate Node process (a "daemon" to SIGKILL, or one
 * running as another user). Node 20 cannot run TypeScript, so the daemon's sources are
 * transpiled (no type check) into a temporary folder inside the repository, where the
 * package's dependencies resolve. Returns that folder; the caller removes it.
 */
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type * as TS from 'typescript';

// Loaded by Node itself, not through the test runner's module transform (much faster).
const ts = createRequire(import.meta.url)('typescript') as typeof TS;

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const CACHE = fileURLToPath(new URL('../../../../node_modules/.cache/', import.meta.url));

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield p;
  }
}

/** The parts of src/ the namespace backend needs (transitively; config for the profiles' rules in bwrap-args). */
const NEEDED = ['core', 'util', 'channel', 'isolation', 'config', 'network', 'native-paths.ts'];

/** Every part of src/ (for a whole daemon in the child). */
export const ALL_SOURCES = ['.'];

/**
 * Transpiles `parts` of packages/agentd/src (folders or files; default: what the namespace
 * backend needs) into `<out>/src` (same layout, `.js`), for `import('<out>/src/...')`.
 */
export async function buildDaemonSources(parts: readonly string[] = NEEDED, prefix = 'agentd-ns-child-'): Promise<string> {
  await mkdir(CACHE, { recursive: true });
  const out = await mkdtemp(join(CACHE, prefix));
  const files: string[] = [];
  for (const part of parts) {
    if (part.endsWith('.ts')) files.push(join(SRC, part));
    else for await (const f of tsFiles(join(SRC, part))) files.push(f);
  }
  for (const file of files) {
    const { outputText } = ts.transpileModule(await readFile(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: file,
    });
    const dest = join(out, 'src', relative(SRC, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, outputText);
  }
  // Node must treat the .js files as ES modules.
  await writeFile(join(out, 'package.json'), '{"type":"module"}\n');
  return out;
}
