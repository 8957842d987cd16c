/**
 * files.upload / files.download of whole directories against a real daemon: nested folders,
 * empty and binary files, permission bits; symlinks on either side are skipped and
 * reported, never followed (a link planted in the sandbox that names a host path must not
 * make the download read or write that host path).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentdClient, Sandbox, type SkippedEntry } from '../src/index.js';
import { e2eSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const skipReason = e2eSkipReason();

/** Every path under `dir` (relative, sorted), with "/" after directories and "@" after links. */
function tree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const info = lstatSync(p);
    if (info.isSymbolicLink()) out.push(`${prefix}${name}@`);
    else if (info.isDirectory()) out.push(`${prefix}${name}/`, ...tree(p, `${prefix}${name}/`));
    else out.push(`${prefix}${name}`);
  }
  return out;
}

describe.skipIf(skipReason !== undefined)('files.upload / files.download', () => {
  let d: TestDaemon;
  let sbx: Sandbox;
  let work: string;

  beforeAll(async () => {
    d = await startTestDaemon();
    sbx = await Sandbox.create({ client: new AgentdClient({ baseUrl: d.url, apiKey: d.adminKey }) });
    work = mkdtempSync(join(tmpdir(), 'agentd-sdk-tree-'));
  }, 60_000);

  afterAll(async () => {
    await sbx?.destroy().catch(() => undefined);
    await d?.close();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  test('a tree goes up and comes back byte-exact, modes kept, host symlinks skipped and reported', async () => {
    const src = join(work, 'src');
    const binary = randomBytes(3 * 1024 * 1024 + 7);
    mkdirSync(join(src, 'a/b/c'), { recursive: true });
    mkdirSync(join(src, 'empty-dir'));
    writeFileSync(join(src, 'README'), 'hello\n');
    writeFileSync(join(src, 'a/empty'), '');
    writeFileSync(join(src, 'a/b/blob.bin'), binary);
    writeFileSync(join(src, 'a/b/c/run.sh'), '#!/bin/sh\necho ran\n');
    chmodSync(join(src, 'a/b/c/run.sh'), 0o755);
    writeFileSync(join(src, 'private'), 'mine');
    chmodSync(join(src, 'private'), 0o600);
    chmodSync(join(src, 'a/b'), 0o750);
    // A secret outside the tree, linked from inside it: must never reach the sandbox.
    writeFileSync(join(work, 'host-secret'), 'host secret');
    symlinkSync(join(work, 'host-secret'), join(src, 'a/link-to-secret'));
    symlinkSync(work, join(src, 'link-to-dir'));

    const seen: SkippedEntry[] = [];
    const up = await sbx.files.upload(src, '/workspace/proj', { chunkSize: 1024 * 1024, onSkip: (e) => seen.push(e) });
    expect(up).toMatchObject({ files: 5, directories: 5, bytes: 6 + binary.length + 19 + 4 });
    expect(up.skipped).toEqual([
      { path: join(src, 'a/link-to-secret'), reason: 'symlink' },
      { path: join(src, 'link-to-dir'), reason: 'symlink' },
    ]);
    expect(seen).toEqual(up.skipped);
    expect(await sbx.files.exists('/workspace/proj/a/link-to-secret')).toBe(false);
    expect((await sbx.exec('grep -r "host secret" /workspace/proj; echo $?')).stdout).toBe('1\n');
    expect((await sbx.exec(['/workspace/proj/a/b/c/run.sh'])).stdout).toBe('ran\n');
    expect((await sbx.files.stat('/workspace/proj/private')).mode & 0o777).toBe(0o600);
    expect((await sbx.files.stat('/workspace/proj/a/b')).mode & 0o777).toBe(0o750);

    const back = join(work, 'back');
    const down = await sbx.files.download('/workspace/proj', back);
    expect(down).toMatchObject({ files: 5, directories: 5, bytes: up.bytes, skipped: [] });
    expect(tree(back)).toEqual(['README', 'a/', 'a/b/', 'a/b/blob.bin', 'a/b/c/', 'a/b/c/run.sh', 'a/empty', 'empty-dir/', 'private']);
    expect(readFileSync(join(back, 'a/b/blob.bin')).equals(binary)).toBe(true);
    expect(readFileSync(join(back, 'a/empty')).length).toBe(0);
    expect(statSync(join(back, 'a/b/c/run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(back, 'private')).mode & 0o777).toBe(0o600);
    expect(statSync(join(back, 'a/b')).mode & 0o777).toBe(0o750);
  }, 120_000);

  test('a symlink planted in the sandbox naming a host path is never followed on download', async () => {
    // Host paths the sandbox would like the client to read or overwrite.
    const victimDir = join(work, 'victim');
    mkdirSync(victimDir);
    writeFileSync(join(victimDir, 'keep'), 'untouched');
    await sbx.files.write('/workspace/evil/real.txt', 'real', { createDirs: true });
    const planted = await sbx.exec(
      ['sh', '-c', 'ln -s "$1" /workspace/evil/to-host-file && ln -s "$2" /workspace/evil/to-host-dir && ln -s /etc /workspace/evil/etc', 'sh', join(victimDir, 'keep'), victimDir],
    );
    expect(planted.exitCode).toBe(0);

    const out = join(work, 'out');
    const down = await sbx.files.download('/workspace/evil', out);
    expect(down.files).toBe(1);
    expect(down.skipped.map((s) => s.path).sort()).toEqual(['/workspace/evil/etc', '/workspace/evil/to-host-dir', '/workspace/evil/to-host-file']);
    expect(down.skipped.every((s) => s.reason === 'symlink')).toBe(true);
    expect(tree(out)).toEqual(['real.txt']);
    expect(readFileSync(join(out, 'real.txt'), 'utf8')).toBe('real');
    expect(readFileSync(join(victimDir, 'keep'), 'utf8')).toBe('untouched');
    expect(readdirSync(victimDir)).toEqual(['keep']);

    // A local link at a target file name (planted on the host) is refused: not written through, not replaced.
    const trap = join(work, 'trap');
    mkdirSync(trap);
    symlinkSync(join(victimDir, 'keep'), join(trap, 'real.txt'));
    await expect(sbx.files.download('/workspace/evil', trap)).rejects.toMatchObject({ code: 'ELOOP', path: join(trap, 'real.txt') });
    expect(readFileSync(join(victimDir, 'keep'), 'utf8')).toBe('untouched');
    expect(lstatSync(join(trap, 'real.txt')).isSymbolicLink()).toBe(true);
    expect(readdirSync(trap)).toEqual(['real.txt']);

    // The link itself as the source is refused, not resolved.
    await expect(sbx.files.download('/workspace/evil/to-host-dir', join(work, 'out2'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(existsSync(join(work, 'out2'))).toBe(false);
  });

  test('a local symlink as the source, or a local symlink where a directory goes, is refused', async () => {
    symlinkSync(join(work, 'src'), join(work, 'src-link'));
    await expect(sbx.files.upload(join(work, 'src-link'), '/workspace/x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await sbx.files.exists('/workspace/x')).toBe(false);

    const dest = join(work, 'dest');
    mkdirSync(dest);
    mkdirSync(join(work, 'elsewhere'));
    symlinkSync(join(work, 'elsewhere'), join(dest, 'a'));
    await expect(sbx.files.download('/workspace/proj', dest)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(readdirSync(join(work, 'elsewhere'))).toEqual([]);
  });

  test('one file each way', async () => {
    writeFileSync(join(work, 'one.txt'), 'one file');
    expect(await sbx.files.upload(join(work, 'one.txt'), '/workspace/one.txt')).toMatchObject({ files: 1, directories: 0, bytes: 8 });
    await sbx.files.download('/workspace/one.txt', join(work, 'one-back.txt'));
    expect(readFileSync(join(work, 'one-back.txt'), 'utf8')).toBe('one file');
  });
});
