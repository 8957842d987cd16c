/**
 * docs/security.md: every test it cites for a claim exists, by file and by name
 * (scripts/check-security-citations.mjs), so a renamed or deleted test cannot leave a claim
 * standing without its proof. The check itself is checked on a copy with a broken name.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '../../../..');
const script = join(root, 'scripts/check-security-citations.mjs');

function check(doc?: string): { code: number; out: string } {
  try {
    const out = execFileSync(process.execPath, [script, ...(doc === undefined ? [] : [doc])], { cwd: root, encoding: 'utf8' });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, out: e.stdout };
  }
}

describe('docs/security.md citations', () => {
  test('every cited test file exists and holds every test name quoted after it', () => {
    const r = check();
    expect(r.out).toMatch(/ 0 problems/);
    expect(r.code).toBe(0);
  });

  test('a quoted name that is in no cited file, or one wrapped over two lines, fails the check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-secdoc-'));
    try {
      const text = readFileSync(join(root, 'docs/security.md'), 'utf8');
      const first = /“([^”]{8,})”/.exec(text);
      expect(first).not.toBeNull();
      const name = (first as RegExpExecArray)[1] as string;
      const broken = join(dir, 'broken.md');
      writeFileSync(broken, text.replace(`“${name}”`, `“${name} (renamed)”`));
      expect(check(broken).code).toBe(1);
      const wrapped = join(dir, 'wrapped.md');
      const cut = name.indexOf(' ', 4);
      writeFileSync(wrapped, text.replace(`“${name}”`, `“${name.slice(0, cut)}\n${name.slice(cut + 1)}”`));
      const w = check(wrapped);
      expect(w.code).toBe(1);
      expect(w.out).toMatch(/wrapped over two lines/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
