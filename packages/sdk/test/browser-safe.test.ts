import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const src = join(dirname(fileURLToPath(import.meta.url)), '../src');

/** Every module the browser entry (index.ts) reaches through static and dynamic imports. */
function reachable(entry: string): Map<string, string> {
  const seen = new Map<string, string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    const text = readFileSync(join(src, file), 'utf8');
    seen.set(file, text);
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      const spec = m[1] ?? '';
      if (spec.startsWith('./')) visit(spec.slice(2).replace(/\.js$/, '.ts'));
      else seen.set(`external:${spec}`, '');
    }
  };
  visit(entry);
  return seen;
}

describe('the browser entry', () => {
  const modules = reachable('index.ts');

  test('imports no package and no Node built-in, and does not reach the Node-only entry', () => {
    expect([...modules.keys()].filter((k) => k.startsWith('external:'))).toEqual([]);
    expect(modules.has('node.ts')).toBe(false);
    expect(modules.size).toBeGreaterThan(5);
  });

  test('uses no Node-only global (Buffer, require, process without a guard)', () => {
    for (const [file, text] of modules) {
      const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect({ file, buffer: /\bBuffer\b/.test(code), require: /\brequire\(/.test(code) }).toEqual({ file, buffer: false, require: false });
      const bareProcess = code.match(/(?<![.\w])process\b/g) ?? [];
      expect({ file, bareProcess }).toEqual({ file, bareProcess: file === 'options.ts' ? bareProcess : [] });
    }
  });
});
