/**
 * The core never names a backend (docs/architecture.md, "Backends"): src/sandbox, src/runtime,
 * src/pipeline and src/adapters import nothing from a backend's folder under src/isolation
 * and hold no backend name or alias as a literal in a comparison or a `case`; the shared
 * isolation modules import no backend folder either (only isolation/builtins.ts, the
 * registration, does). Decisions go through the probe's features and the lifecycle hooks.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { BUILTIN_BACKENDS } from '../../src/isolation/names.js';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const ISOLATION = join(SRC, 'isolation');
const CORE_DIRS = ['sandbox', 'runtime', 'pipeline', 'adapters'].map((d) => join(SRC, d));

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Backend folders: every folder of src/isolation named like a backend or holding a backend.ts. */
function backendFolders(): string[] {
  const names = new Set(BUILTIN_BACKENDS.map((b) => b.name));
  return readdirSync(ISOLATION)
    .map((n) => join(ISOLATION, n))
    .filter((p) => statSync(p).isDirectory())
    .filter((p) => names.has(p.split('/').at(-1) ?? '') || readdirSync(p).includes('backend.ts'));
}

/** The resolved targets of a file's relative imports (static, `export ... from`, dynamic). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.[^'"]+)['"]/g)].map((m) => m[1] as string);
  return specs.map((s) => resolve(dirname(file), s));
}

const isUnder = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);

/**
 * Backend names and aliases that would show a decision by name. Words that are also another
 * vocabulary's values (network mode 'none'/'host', profile 'workstation') are left out: a
 * comparison with them is about that vocabulary.
 */
const OTHER_VOCABULARY = new Set(['none', 'host', 'workstation']);
const BACKEND_WORDS = [...new Set(BUILTIN_BACKENDS.flatMap((b) => [b.name, ...b.aliases]))].filter((w) => !OTHER_VOCABULARY.has(w));

/** Lines comparing with, or switching on, a backend name literal. */
export function nameDecisions(text: string): string[] {
  const words = BACKEND_WORDS.map((w) => w.replace(/[-]/g, '\\-')).join('|');
  const lit = `['"\`](?:${words})['"\`]`;
  const re = new RegExp(`[!=]==?\\s*${lit}|${lit}\\s*[!=]==?|case\\s+${lit}\\s*:|\\.(?:includes|has)\\(\\s*${lit}\\s*\\)`);
  return text.split('\n').filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line) && re.test(line));
}

describe('the core is backend-agnostic', () => {
  test('the scanner itself finds what it looks for (a guard that cannot fail proves nothing)', () => {
    expect(nameDecisions("    if (image !== undefined && backendName !== 'namespace') {")).toHaveLength(1);
    expect(nameDecisions("  if (backend.name === 'host-direct' && x) {")).toHaveLength(1);
    expect(nameDecisions("    case 'runc':")).toHaveLength(1);
    expect(nameDecisions("  if (spec.network !== 'none') return;")).toHaveLength(0);
    expect(nameDecisions("  // backend 'namespace' runs images")).toHaveLength(0);
    const folders = backendFolders().map((f) => relative(ISOLATION, f));
    expect(folders).toEqual(expect.arrayContaining(['namespace', 'host-direct']));
  });

  test('sandbox/, runtime/, pipeline/ and adapters/ import nothing from a backend folder', () => {
    const folders = backendFolders();
    const offending = CORE_DIRS.flatMap(tsFiles).flatMap((file) =>
      importsOf(file).filter((target) => folders.some((f) => isUnder(target, f))).map((target) => `${relative(SRC, file)} -> ${relative(SRC, target)}`));
    expect(offending).toEqual([]);
  });

  test('sandbox/, runtime/, pipeline/ and adapters/ decide nothing by a backend name literal', () => {
    const offending = CORE_DIRS.flatMap(tsFiles).flatMap((file) => nameDecisions(readFileSync(file, 'utf8')).map((line) => `${relative(SRC, file)}: ${line.trim()}`));
    expect(offending).toEqual([]);
  });

  test('the shared isolation modules import no backend folder; only builtins.ts registers them', () => {
    const folders = backendFolders();
    const shared = tsFiles(ISOLATION).filter((f) => !folders.some((d) => isUnder(f, d)) && f !== join(ISOLATION, 'builtins.ts'));
    const offending = shared.flatMap((file) =>
      importsOf(file).filter((target) => folders.some((d) => isUnder(target, d))).map((target) => `${relative(SRC, file)} -> ${relative(SRC, target)}`));
    expect(offending).toEqual([]);
  });
});
