import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, realpath, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { closeHostPaths, NO_HOST_PATHS, openHostPath, type HostPathRules } from '../../src/isolation/host-paths.js';

/** The single host-path validator (isolation/host-paths.ts), on real files. */
describe('openHostPath', () => {
  let base: string;
  let root: string;
  let home: string;
  let rules: HostPathRules;

  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'agentd-hostpaths-')));
    root = join(base, 'root');
    home = join(root, 'agentd-home');
    await mkdir(join(home, 'sandboxes'), { recursive: true });
    await mkdir(join(root, 'data'));
    await writeFile(join(root, 'data', 'f'), 'x');
    await mkdir(join(base, 'outside'));
    rules = { ...NO_HOST_PATHS, roots: [root], protectedPaths: [home] };
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const ruleOf = async (path: string, r: HostPathRules = rules): Promise<unknown> => {
    try {
      const p = await openHostPath(path, r, 'test');
      await closeHostPaths([p]);
      return 'ok';
    } catch (err) {
      const e = err as { code: string; details?: { rule?: string } };
      return `${e.code}/${e.details?.rule ?? '-'}`;
    }
  };

  test('accepts a folder or file under a root, and pins it: a rename afterwards does not change what the descriptor names', async () => {
    expect(await ruleOf(join(root, 'data'))).toBe('ok');
    expect(await ruleOf(join(root, 'data', 'f'))).toBe('ok');
    const pinned = await openHostPath(join(root, 'data'), rules, 'test');
    try {
      const before = await pinned.handle.stat();
      await rename(join(root, 'data'), join(root, 'data-moved'));
      await symlink(join(base, 'outside'), join(root, 'data'));
      const after = await pinned.handle.stat();
      expect([after.dev, after.ino]).toEqual([before.dev, before.ino]);
      expect((await stat(join(root, 'data-moved'))).ino).toBe(before.ino);
    } finally {
      await closeHostPaths([pinned]);
      await rm(join(root, 'data'));
      await rename(join(root, 'data-moved'), join(root, 'data'));
    }
  });

  test('refuses bad syntax and missing paths (INVALID_ARGUMENT), and every rule (POLICY_DENIED)', async () => {
    expect(await ruleOf('relative')).toBe('INVALID_ARGUMENT/syntax');
    expect(await ruleOf(`${root}/../etc`)).toBe('INVALID_ARGUMENT/syntax');
    expect(await ruleOf(join(root, 'nope'))).toBe('INVALID_ARGUMENT/missing');
    expect(await ruleOf(join(base, 'outside'))).toBe('POLICY_DENIED/outside-roots');
    expect(await ruleOf(join(root, 'data'), NO_HOST_PATHS)).toBe('POLICY_DENIED/outside-roots');
    expect(await ruleOf(join(home, 'sandboxes'))).toBe('POLICY_DENIED/protected');
    expect(await ruleOf(root)).toBe('POLICY_DENIED/protected');
    expect(await ruleOf('/')).toBe('POLICY_DENIED/root');
    expect(await ruleOf('/proc/self')).toBe('POLICY_DENIED/system');
    expect(await ruleOf('/dev')).toBe('POLICY_DENIED/system');
  });

  test('symlinks are followed before the rules: into the home or outside the roots is refused', async () => {
    await symlink(home, join(root, 'to-home'));
    await symlink(join(base, 'outside'), join(root, 'to-outside'));
    await symlink('/proc', join(root, 'to-proc'));
    await symlink(join(root, 'data'), join(root, 'to-data'));
    expect(await ruleOf(join(root, 'to-home'))).toBe('POLICY_DENIED/protected');
    expect(await ruleOf(join(root, 'to-outside'))).toBe('POLICY_DENIED/outside-roots');
    expect(await ruleOf(join(root, 'to-proc'))).toBe('POLICY_DENIED/system');
    expect(await ruleOf(join(root, 'to-data'))).toBe('ok');
  });

  test('a file with a second name (hard link) is refused: it may be a protected file under another name', async () => {
    await writeFile(join(home, 'state.db'), 'db');
    await link(join(home, 'state.db'), join(root, 'data', 'innocent'));
    expect(await ruleOf(join(root, 'data', 'innocent'))).toBe('POLICY_DENIED/hard-link');
  });

  test.skipIf(process.getuid?.() !== 0)('another name for the home (a bind mount of it under a root) is refused by identity', async () => {
    const alias = join(root, 'data', 'alias');
    await mkdir(alias);
    execFileSync('mount', ['--bind', home, alias]);
    try {
      expect(await ruleOf(alias)).toBe('POLICY_DENIED/protected');
      expect(await ruleOf(join(alias, 'sandboxes'))).toBe('POLICY_DENIED/protected');
    } finally {
      execFileSync('umount', [alias]);
    }
    expect(await ruleOf(alias)).toBe('ok');
  });

  test.skipIf(process.getuid?.() !== 0)('a device node under a root is refused', async () => {
    execFileSync('mknod', [join(root, 'data', 'null'), 'c', '1', '3']);
    expect(await ruleOf(join(root, 'data', 'null'))).toBe('POLICY_DENIED/file-type');
  });
});
