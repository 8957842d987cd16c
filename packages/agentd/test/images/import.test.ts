/**
 * Import of a root file system tarball and of an OCI image layout (made here: layers as tar
 * and tar+gzip, whiteouts, blobs named by their sha256), a sandbox running on the tarball's
 * image, and the refusals: a blob that does not match its digest, a hostile tarball whose
 * link points out of the tree (its member lands in the jail, never on the host).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importImage } from '../../src/images/import.js';
import { ImageStore } from '../../src/images/store.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('image import tests skipped: import keeps file owners and runs as root');

const HELLO_C = '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("hello from tar uid=%d\\n",(int)getuid());return 0;}\n';

function sha(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

describe.skipIf(!isRoot)('image import', () => {
  let work: string;
  let d: TestDaemon;
  let store: ImageStore;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'agentd-import-'));
    await writeFile(join(work, 'hello.c'), HELLO_C);
    // A tiny root file system: one static program.
    const fs = join(work, 'fs');
    await mkdir(join(fs, 'bin'), { recursive: true });
    await mkdir(join(fs, 'etc'));
    execFileSync('gcc', ['-static', '-O1', '-o', join(fs, 'bin/hello'), join(work, 'hello.c')]);
    await writeFile(join(fs, 'etc/a'), 'a\n');
    await writeFile(join(fs, 'etc/b'), 'b\n');
    await mkdir(join(fs, 'data'));
    await writeFile(join(fs, 'data/x'), 'x\n');
    execFileSync('tar', ['-C', fs, '--numeric-owner', '--owner=0', '--group=0', '-czf', join(work, 'rootfs.tar.gz'), '.']);
    d = await startTestDaemon();
    store = new ImageStore(d.home);
  }, 120_000);
  afterAll(async () => {
    await d?.close();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('imports a .tar.gz and a sandbox runs its program as agent and as root', async () => {
    const info = await importImage(store, 'tiny', join(work, 'rootfs.tar.gz'));
    expect(info).toMatchObject({ name: 'tiny', source: { kind: 'tar' } });
    expect(info.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Same content again: same digest (content-addressed), one blob.
    const again = await importImage(store, 'tiny2', join(work, 'rootfs.tar.gz'));
    expect(again.digest).toBe(info.digest);
    expect((await readdir(join(d.home, 'images/blobs'))).length).toBe(1);
    const rootfs = (await store.resolve('tiny')).rootfs;
    // The finishing touches: the agent user and the sandbox's mount points.
    expect(await readFile(join(rootfs, 'etc/passwd'), 'utf8')).toContain('agent:x:1000:1000:');
    expect((await lstat(join(rootfs, 'home/agent'))).uid).toBe(1000);
    const c = await d.call('POST', '/v1/sandboxes', { body: { image: 'tiny' } });
    expect(c.status, c.text).toBe(201);
    const id = c.body.id as string;
    const a = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['/bin/hello'] } });
    expect(a.body.stdout).toBe('hello from tar uid=1000\n');
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['/bin/hello'], user: 'root' } });
    expect(r.body.stdout).toBe('hello from tar uid=0\n');
    const rm1 = await store.remove('tiny2', () => []);
    expect(rm1.blobRemoved).toBe(false);
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
    expect((await store.remove('tiny', () => [])).blobRemoved).toBe(true);
    expect(await store.list()).toEqual([]);
  }, 120_000);

  it('imports an OCI image layout: layers in order, whiteouts and opaque folders, config', async () => {
    const layout = join(work, 'oci');
    await mkdir(join(layout, 'blobs/sha256'), { recursive: true });
    const put = async (buf: Buffer): Promise<{ digest: string; size: number }> => {
      const hex = sha(buf);
      await writeFile(join(layout, 'blobs/sha256', hex), buf);
      return { digest: `sha256:${hex}`, size: buf.length };
    };
    const layer1 = execFileSync('tar', ['-C', join(work, 'fs'), '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.'], { maxBuffer: 64 << 20 });
    // Layer 2: removes etc/a (whiteout), makes data/ opaque (x gone) with a new y, adds etc/c.
    const l2 = join(work, 'l2');
    await mkdir(join(l2, 'etc'), { recursive: true });
    await mkdir(join(l2, 'data'));
    await writeFile(join(l2, 'etc/.wh.a'), '');
    await writeFile(join(l2, 'etc/c'), 'c\n');
    await writeFile(join(l2, 'data/.wh..wh..opq'), '');
    await writeFile(join(l2, 'data/y'), 'y\n');
    const layer2 = gzipSync(execFileSync('tar', ['-C', l2, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.']));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin', 'GREETING=hi'], Cmd: ['/bin/hello'], WorkingDir: '/workspace' }, rootfs: { type: 'layers', diff_ids: [] } }));
    const l1d = await put(layer1);
    const l2d = await put(layer2);
    const cfgd = await put(config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfgd },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l1d }, { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l2d }],
    }));
    const md = await put(manifest);
    await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...md, platform: { os: 'linux', architecture: 'amd64' } }] }));

    const info = await importImage(store, 'oci-tiny', layout);
    expect(info).toMatchObject({ source: { kind: 'oci', manifest: md.digest }, config: { env: { PATH: '/bin', GREETING: 'hi' }, cmd: ['/bin/hello'], workdir: '/workspace' } });
    const rootfs = (await store.resolve('oci-tiny')).rootfs;
    expect((await readdir(join(rootfs, 'etc'))).sort()).toEqual(['b', 'c', 'group', 'passwd']);
    expect(await readdir(join(rootfs, 'data'))).toEqual(['y']);
    expect((await lstat(join(rootfs, 'bin/hello'))).mode & 0o111).not.toBe(0);

    // A blob whose bytes do not match its name is refused.
    await writeFile(join(layout, 'blobs/sha256', l2d.digest.slice(7)), gzipSync(Buffer.from('tampered')));
    await expect(importImage(store, 'oci-bad', layout)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/does not (match|have)|bytes/) });
  }, 120_000);

  it('a hostile tarball (a link out of the tree, then a file through it) cannot write on the host', async () => {
    const target = await mkdtemp(join(tmpdir(), 'agentd-host-target-'));
    await chmod(target, 0o755);
    const evil = join(work, 'evil');
    await mkdir(evil, { recursive: true });
    await symlink(target, join(evil, 'escape'));
    const t1 = join(work, 'evil1.tar');
    execFileSync('tar', ['-C', evil, '-cf', t1, 'escape']);
    // Second member: escape/pwned (a file under the link), appended to the same archive.
    const evil2 = join(work, 'evil2');
    await mkdir(join(evil2, 'escape'), { recursive: true });
    await writeFile(join(evil2, 'escape/pwned'), 'pwned\n');
    execFileSync('tar', ['-C', evil2, '-rf', t1, 'escape/pwned']);
    await importImage(store, 'evil', t1).catch(() => undefined);
    expect(await readdir(target)).toEqual([]);
    await rm(target, { recursive: true, force: true });
  }, 60_000);

  it('refuses bad names and missing sources with clear codes', async () => {
    await expect(importImage(store, '../x', join(work, 'rootfs.tar.gz'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(importImage(store, 'ok', join(work, 'nope.tar'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.inspect('never-built')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
