/**
 * File operations through the real agentd-init, confined to its --fs-root.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect } from 'vitest';
import { HAVE_INIT, initTest as it } from './real-init.js';

describe.skipIf(!HAVE_INIT)('file operations through the real agentd-init', () => {
  it('writes, reads back and stats a file, binary safe', async ({ live }) => {
    const data = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(await live.channel.fs.write('a.bin', data, { mode: 0o600 })).toEqual({ bytesWritten: 256, fileSize: 256 });
    expect((await readFile(join(live.root, 'a.bin'))).equals(data)).toBe(true);
    expect((await stat(join(live.root, 'a.bin'))).mode & 0o777).toBe(0o600);
    const r = await live.channel.fs.read('a.bin');
    expect(r.data.equals(data)).toBe(true);
    expect(r).toMatchObject({ fileSize: 256, eof: true });
    const part = await live.channel.fs.read('a.bin', { offset: 250, limit: 3 });
    expect([...part.data]).toEqual([250, 251, 252]);
    expect(part.eof).toBe(false);
    const st = await live.channel.fs.stat('a.bin');
    const host = await stat(join(live.root, 'a.bin'));
    expect(st).toMatchObject({ kind: 'file', mode: 0o600, size: 256, uid: host.uid, gid: host.gid });
    expect(Math.abs(st.mtimeMs - host.mtimeMs)).toBeLessThan(2);
  });

  it('reads and writes files larger than one frame in chunks', async ({ live }) => {
    const big = randomBytes(3 * 1024 * 1024 + 123);
    expect(await live.channel.fs.write('deep/big', big, { createDirs: true })).toEqual({ bytesWritten: big.length, fileSize: big.length });
    expect((await readFile(join(live.root, 'deep/big'))).equals(big)).toBe(true);
    const back = await live.channel.fs.read('deep/big');
    expect(back.data.equals(big)).toBe(true);
    const mid = await live.channel.fs.read('deep/big', { offset: 1024 * 1024 - 5, limit: 2 * 1024 * 1024 });
    expect(mid.data.equals(big.subarray(1024 * 1024 - 5, 3 * 1024 * 1024 - 5))).toBe(true);
  });

  it('appends, refuses exclusive creation of an existing file, and creates parents only when asked', async ({ live }) => {
    await live.channel.fs.write('log', 'one\n');
    expect(await live.channel.fs.write('log', 'two\n', { append: true })).toEqual({ bytesWritten: 4, fileSize: 8 });
    expect(await readFile(join(live.root, 'log'), 'utf8')).toBe('one\ntwo\n');
    await expect(live.channel.fs.write('log', 'x', { exclusive: true })).rejects.toMatchObject({ code: 'FS_ERROR', syscallCode: 'EEXIST' });
    await expect(live.channel.fs.write('no/such/dir/f', 'x')).rejects.toMatchObject({ code: 'FS_ERROR', syscallCode: 'ENOENT' });
    await live.channel.fs.write('log', '');
    expect((await stat(join(live.root, 'log'))).size).toBe(0);
  });

  it('reports ENOENT, EISDIR and ENOTDIR with their errno', async ({ live }) => {
    await mkdir(join(live.root, 'dir'));
    await writeFile(join(live.root, 'file'), 'x');
    const cases: Array<[Promise<unknown>, string]> = [
      [live.channel.fs.read('missing'), 'ENOENT'],
      [live.channel.fs.stat('missing'), 'ENOENT'],
      [live.channel.fs.list('missing'), 'ENOENT'],
      [live.channel.fs.remove('missing'), 'ENOENT'],
      [live.channel.fs.read('dir'), 'EISDIR'],
      [live.channel.fs.write('dir', 'x'), 'EISDIR'],
      [live.channel.fs.list('file'), 'ENOTDIR'],
      [live.channel.fs.read('file/below'), 'ENOTDIR'],
      [live.channel.fs.mkdir('file/sub'), 'ENOTDIR'],
      [live.channel.fs.mkdir('dir'), 'EEXIST'],
      [live.channel.fs.mkdir('a/b/c'), 'ENOENT'],
    ];
    for (const [p, errno] of cases) {
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err, `expected ${errno}`).toMatchObject({ name: 'SandboxOsError', code: 'FS_ERROR', syscallCode: errno });
    }
  });

  it('mkdir -p, lists with kinds, and pages through a large directory', async ({ live }) => {
    await live.channel.fs.mkdir('a/b/c', { parents: true });
    await live.channel.fs.mkdir('a/b/c', { parents: true });
    expect((await stat(join(live.root, 'a/b/c'))).isDirectory()).toBe(true);
    await live.channel.fs.mkdir('m', { mode: 0o700 });
    expect((await stat(join(live.root, 'm'))).mode & 0o777).toBe(0o700);
    await writeFile(join(live.root, 'a/f'), 'hello');
    await symlink('f', join(live.root, 'a/l'));
    const entries = await live.channel.fs.list('a');
    expect(entries.map((e) => [e.name, e.kind]).sort()).toEqual([['b', 'directory'], ['f', 'file'], ['l', 'symlink']]);
    expect(entries.find((e) => e.name === 'f')?.size).toBe(5);

    // One page holds at most 4096 entries (MAX_LIST_ITEMS): 4100 need a second FS_LIST.
    const names = Array.from({ length: 4100 }, (_, i) => `e${String(i).padStart(4, '0')}`);
    await mkdir(join(live.root, 'many'));
    for (const n of names) writeFileSync(join(live.root, 'many', n), '');
    const listed = await live.channel.fs.list('many');
    expect(listed.map((e) => e.name).sort()).toEqual(names);
  });

  it('stats a symlink itself or its target', async ({ live }) => {
    await writeFile(join(live.root, 'target'), 'abc');
    await symlink('target', join(live.root, 'link'));
    expect(await live.channel.fs.stat('link', { follow: false })).toMatchObject({ kind: 'symlink', linkTarget: 'target' });
    const followed = await live.channel.fs.stat('link');
    expect(followed).toMatchObject({ kind: 'file', size: 3 });
    expect(followed.linkTarget).toBeUndefined();
  });

  it('removes files, empty and (recursively) full directories, and renames', async ({ live }) => {
    await writeFile(join(live.root, 'f'), 'x');
    await mkdir(join(live.root, 'full/sub'), { recursive: true });
    await writeFile(join(live.root, 'full/sub/g'), 'y');
    await live.channel.fs.remove('f');
    await expect(lstat(join(live.root, 'f'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(live.channel.fs.remove('full')).rejects.toMatchObject({ code: 'FS_ERROR', syscallCode: 'ENOTEMPTY' });
    await live.channel.fs.remove('full', { recursive: true });
    await expect(lstat(join(live.root, 'full'))).rejects.toMatchObject({ code: 'ENOENT' });

    await writeFile(join(live.root, 'from'), '1');
    await writeFile(join(live.root, 'to'), '2');
    await expect(live.channel.fs.rename('from', 'to')).rejects.toMatchObject({ code: 'FS_ERROR', syscallCode: 'EEXIST' });
    await live.channel.fs.rename('from', 'to', { overwrite: true });
    expect(await readFile(join(live.root, 'to'), 'utf8')).toBe('1');
    await live.channel.fs.rename('to', 'renamed');
    expect(await readFile(join(live.root, 'renamed'), 'utf8')).toBe('1');
  });

  describe('paths never leave the fs-root', () => {
    it('resolves .. and absolute paths beneath the root', async ({ live }) => {
      await live.channel.fs.write('../../../../escape-dotdot', 'in');
      expect(await readFile(join(live.root, 'escape-dotdot'), 'utf8')).toBe('in');
      await expect(stat(join(dirname(live.root), 'escape-dotdot'))).rejects.toMatchObject({ code: 'ENOENT' });

      await live.channel.fs.write('/etc/passwd', 'not the host one', { createDirs: true });
      expect(await readFile(join(live.root, 'etc/passwd'), 'utf8')).toBe('not the host one');
      expect(await readFile('/etc/passwd', 'utf8')).not.toBe('not the host one');
      expect((await live.channel.fs.read('/etc/passwd')).data.toString()).toBe('not the host one');
      await expect(live.channel.fs.stat('/etc/hostname')).rejects.toMatchObject({ syscallCode: 'ENOENT' });
      expect((await live.channel.fs.list('/')).map((e) => e.name).sort()).toEqual(['escape-dotdot', 'etc']);
    });

    it('keeps symlinks that point outside inside the root', async ({ live }) => {
      const outside = dirname(live.root);
      await symlink('/etc', join(live.root, 'abs-link'));
      await symlink('../../../..', join(live.root, 'rel-link'));
      // /etc/hostname exists on the host, but through the link it is looked up beneath the root.
      await expect(live.channel.fs.read('abs-link/hostname')).rejects.toMatchObject({ code: 'FS_ERROR', syscallCode: 'ENOENT' });
      await expect(live.channel.fs.read('rel-link/etc/hostname')).rejects.toMatchObject({ code: 'FS_ERROR', syscallCode: 'ENOENT' });
      await live.channel.fs.mkdir('/etc');
      await live.channel.fs.write('abs-link/written-through', 'x');
      expect(await readFile(join(live.root, 'etc/written-through'), 'utf8')).toBe('x');
      await expect(stat('/etc/written-through')).rejects.toMatchObject({ code: 'ENOENT' });
      await live.channel.fs.write('rel-link/up-and-back', 'y');
      expect(await readFile(join(live.root, 'up-and-back'), 'utf8')).toBe('y');
      await expect(stat(join(outside, 'up-and-back'))).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('removes, renames and mkdirs a symlink itself, not what it points to', async ({ live }) => {
      const victim = join(live.root, 'victim');
      await mkdir(victim);
      await writeFile(join(victim, 'keep'), 'k');
      await symlink(victim, join(live.root, 'ln'));
      await live.channel.fs.rename('ln', 'ln2');
      expect(await readlink(join(live.root, 'ln2'))).toBe(victim);
      await live.channel.fs.remove('ln2', { recursive: true });
      await expect(lstat(join(live.root, 'ln2'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await readFile(join(victim, 'keep'), 'utf8')).toBe('k');
    });
  });
});
