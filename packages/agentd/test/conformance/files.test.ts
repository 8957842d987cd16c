/**
 * Conformance, files: the file API works the same on every backend (write, read, list, stat,
 * remove, mkdir, binary data, ranges) and stays inside the sandbox's view: a path that climbs
 * with `..`, an absolute host path, or a symlink the sandbox made never reaches a host file,
 * for reading or writing. agentd-init resolves every path beneath its file root
 * (openat2 RESOLVE_IN_ROOT), whatever the backend: this holds on host-direct too.
 */
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { allBytes, createSandbox, feature, forEachSubject, sh, startSubjectDaemon, unique } from './harness.js';

forEachSubject('files', (s) => {
  let d: TestDaemon;
  let id: string;
  let hostDir: string;
  let secret: string;
  beforeAll(async () => {
    d = await startSubjectDaemon(s);
    id = await createSandbox(d);
    // A host folder and file everyone may read: only the sandbox's view can keep them out, not permissions.
    hostDir = await mkdtemp(join(tmpdir(), 'agentd-conformance-host-'));
    await chmod(hostDir, 0o777);
    secret = unique('host-secret-');
    await writeFile(join(hostDir, 'secret'), secret, { mode: 0o644 });
    await chmod(join(hostDir, 'secret'), 0o644);
  }, 120_000);
  afterAll(async () => {
    await d?.close();
    if (hostDir) await rm(hostDir, { recursive: true, force: true });
  });

  const q = (p: string): string => encodeURIComponent(p);

  it('write, read, list, stat, mkdir, remove; the commands see the same files', async () => {
    expect((await d.call('POST', `/v1/sandboxes/${id}/files/mkdir`, { body: { path: 'd/e', parents: true } })).status).toBe(204);
    const put = await d.call('PUT', `/v1/sandboxes/${id}/files?path=d/e/f.txt`, { raw: 'hello' });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toMatchObject({ bytes_written: 5, file_size: 5 });
    expect((await d.call('PUT', `/v1/sandboxes/${id}/files?path=d/e/f.txt&append=true`, { raw: ' world' })).body.file_size).toBe(11);
    const st = await d.call('GET', `/v1/sandboxes/${id}/files/stat?path=d/e/f.txt`);
    expect(st.body).toMatchObject({ kind: 'file', size: 11 });
    const ls = await d.call('GET', `/v1/sandboxes/${id}/files/list?path=d/e`);
    expect(ls.body.entries.map((e: { name: string }) => e.name)).toEqual(['f.txt']);
    expect((await d.call('GET', `/v1/sandboxes/${id}/files?path=d/e/f.txt`)).text).toBe('hello world');
    expect(await sh(d, id, 'cat d/e/f.txt')).toBe('hello world');
    await sh(d, id, 'echo from-command > d/cmd.txt');
    expect((await d.call('GET', `/v1/sandboxes/${id}/files?path=d/cmd.txt`)).text).toBe('from-command\n');
    expect((await d.call('DELETE', `/v1/sandboxes/${id}/files?path=d/e/f.txt`)).status).toBe(204);
    const gone = await d.call('GET', `/v1/sandboxes/${id}/files/stat?path=d/e/f.txt`);
    expect(gone.status).toBe(422);
    expect(gone.body.error).toMatchObject({ code: 'FS_ERROR', details: { errno: 'ENOENT' } });
    const notEmpty = await d.call('DELETE', `/v1/sandboxes/${id}/files?path=d`);
    expect(notEmpty.body.error?.code).toBe('FS_ERROR');
    expect((await d.call('DELETE', `/v1/sandboxes/${id}/files?path=d&recursive=true`)).status).toBe(204);
    expect(await sh(d, id, 'test -e d && echo there || echo gone')).toBe('gone\n');
  });

  it('binary files round-trip byte for byte, whole and in ranges', async () => {
    const bytes = allBytes(1024);
    expect((await d.call('PUT', `/v1/sandboxes/${id}/files?path=bin.dat`, { raw: bytes })).status).toBe(200);
    const whole = await d.call('GET', `/v1/sandboxes/${id}/files?path=bin.dat`);
    expect(whole.bytes.equals(bytes)).toBe(true);
    const part = await d.call('GET', `/v1/sandboxes/${id}/files?path=bin.dat&offset=1000&limit=300`);
    expect(part.bytes.equals(bytes.subarray(1000, 1300))).toBe(true);
    expect(part.headers['x-eof']).toBe('false');
    expect((await sh(d, id, 'od -An -tx1 -N4 -j254 bin.dat')).trim()).toBe('fe ff 00 01');
  });

  it("a path climbing with '..' or naming a host path never reads or writes the host's file", async () => {
    const climbs = [`../../../../../../..${hostDir}/secret`, `${hostDir}/secret`, `/../..${hostDir}/secret`];
    for (const p of climbs) {
      const r = await d.call('GET', `/v1/sandboxes/${id}/files?path=${q(p)}`);
      expect(r.text, p).not.toContain(secret);
      if (r.status !== 200) expect(r.body.error.code, p).toBe('FS_ERROR');
    }
    for (const p of [`../../../../../../..${hostDir}/planted-dots`, `${hostDir}/planted-abs`]) {
      const w = await d.call('PUT', `/v1/sandboxes/${id}/files?path=${q(p)}&create_dirs=true`, { raw: 'planted' });
      expect([200, 422], w.text).toContain(w.status);
    }
    const mk = await d.call('POST', `/v1/sandboxes/${id}/files/mkdir`, { body: { path: `../../../..${hostDir}/made`, parents: true } });
    expect([204, 422], mk.text).toContain(mk.status);
    expect(await readdir(hostDir)).toEqual(['secret']);
  });

  it("a symlink the sandbox made is resolved inside the sandbox's view: never the host's file or folder", async () => {
    await sh(d, id, `ln -sfn ${hostDir}/secret link-file; ln -sfn ${hostDir} link-dir; ln -sfn ../../../../../../..${hostDir} link-up`);
    for (const p of ['link-file', 'link-dir/secret', 'link-up/secret']) {
      const r = await d.call('GET', `/v1/sandboxes/${id}/files?path=${p}`);
      expect(r.text, p).not.toContain(secret);
      if (r.status !== 200) expect(r.body.error.code, p).toBe('FS_ERROR');
      const st = await d.call('GET', `/v1/sandboxes/${id}/files/stat?path=${p}&follow=true`);
      // A backend whose probe says paths are only denied, not hidden (linux-native: Landlock does not control stat), may answer metadata.
      if (st.status === 200 && feature(s, 'hiddenPaths')?.ok !== false) expect(st.body.size, p).not.toBe(secret.length);
    }
    const lst = await d.call('GET', `/v1/sandboxes/${id}/files/stat?path=link-file&follow=false`);
    expect(lst.body).toMatchObject({ kind: 'symlink', link_target: `${hostDir}/secret` });
    for (const p of ['link-dir/planted', 'link-up/planted', 'link-file']) {
      const w = await d.call('PUT', `/v1/sandboxes/${id}/files?path=${p}&create_dirs=true`, { raw: 'planted' });
      expect([200, 422], w.text).toContain(w.status);
    }
    for (const p of ['link-dir/made', 'link-up/made']) {
      const m = await d.call('POST', `/v1/sandboxes/${id}/files/mkdir`, { body: { path: p, parents: true } });
      expect([204, 422], m.text).toContain(m.status);
    }
    const ren = await d.call('POST', `/v1/sandboxes/${id}/files/rename`, { body: { from: 'bin.dat', to: 'link-dir/renamed' } });
    expect([204, 422], ren.text).toContain(ren.status);
    const del = await d.call('DELETE', `/v1/sandboxes/${id}/files?path=link-dir/secret`);
    expect([204, 422], del.text).toContain(del.status);
    expect(await readdir(hostDir)).toEqual(['secret']);
    const list = await d.call('GET', `/v1/sandboxes/${id}/files/list?path=link-dir`);
    if (list.status === 200) expect(list.body.entries.map((e: { name: string }) => e.name)).not.toContain('secret');
  });
});
