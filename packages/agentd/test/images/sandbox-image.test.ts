/**
 * A sandbox on an image (namespace backend, root daemon): python with pytest from the image,
 * root inside installs a package with dpkg into its own layer only, the image is unchanged,
 * snapshot + restore + fork keep the layer, and a sandbox without an image still sees the
 * host's /usr. Real daemon, real bwrap, real overlayfs.
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore } from '../../src/images/store.js';
import { sandboxesUsingImage } from '../../src/images/users.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { linkCachedImages, TEST_IMAGE } from './helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('sandbox-image tests skipped: images need a root daemon (the namespace backend maps two host uids and mounts the image)');

/** A .deb made inside the sandbox with dpkg-deb: installs /usr/bin/agentd-hello. */
const MAKE_DEB = [
  'set -e; d=/workspace/pkg; mkdir -p $d/DEBIAN $d/usr/bin',
  'printf "Package: agentd-hello\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: t <t@example.invalid>\\nDescription: test\\n" > $d/DEBIAN/control',
  'printf "#!/bin/sh\\necho hello-from-deb\\n" > $d/usr/bin/agentd-hello; chmod 755 $d/usr/bin/agentd-hello',
  'dpkg-deb --root-owner-group --build $d /workspace/hello.deb >/dev/null',
].join('; ');

describe.skipIf(!isRoot)('sandbox with an image', () => {
  let d: TestDaemon;
  let imageRootfs: string;

  beforeAll(async () => {
    d = await startTestDaemon();
    await linkCachedImages(d.home);
    imageRootfs = (await new ImageStore(d.home).resolve(TEST_IMAGE)).rootfs;
  }, 900_000);
  afterAll(async () => {
    await d?.close();
  });

  const exec = async (id: string, command: string, user?: string): Promise<{ exit_code: number; stdout: string; stderr: string }> => {
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command, ...(user === undefined ? {} : { user }) } });
    expect(r.status, r.text).toBe(200);
    return r.body as { exit_code: number; stdout: string; stderr: string };
  };

  it('runs python3 with pytest from the image as the agent user, and root inside installs a .deb into its own layer only', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } });
    expect(c.status, c.text).toBe(201);
    const id = c.body.id as string;
    const py = await exec(id, "python3 -c 'import pytest, os; print(pytest.__version__, os.getuid(), os.getgid())'");
    expect(py.exit_code, py.stderr).toBe(0);
    expect(py.stdout).toMatch(/^\d+\.\d+\.\d+ 1000 1000\n$/);
    // The agent cannot change the system.
    const denied = await exec(id, 'touch /usr/bin/agent-was-here');
    expect(denied.exit_code).not.toBe(0);
    expect(denied.stderr).toMatch(/Permission denied/);
    // Root inside installs a package.
    expect((await exec(id, MAKE_DEB)).exit_code).toBe(0);
    const inst = await exec(id, 'id -u; dpkg -i /workspace/hello.deb >/dev/null && agentd-hello && stat -c %u /usr/bin/agentd-hello', 'root');
    expect(inst.exit_code, inst.stderr).toBe(0);
    expect(inst.stdout).toBe('0\nhello-from-deb\n0\n');
    // The agent sees it too, and the image did not change.
    expect((await exec(id, 'agentd-hello')).stdout).toBe('hello-from-deb\n');
    expect(await lstat(join(imageRootfs, 'usr/bin/agentd-hello')).catch((e: NodeJS.ErrnoException) => e.code)).toBe('ENOENT');
    // In its layer (inside its disk volume when it has a disk limit).
    const inLayer = await Promise.all(['layer', 'volume/layer'].map((l) => lstat(join(d.home, 'sandboxes', id, l, 'upper/usr/bin/agentd-hello')).then((st) => st.isFile(), () => false)));
    expect(inLayer).toContain(true);
    // A file the API writes belongs to the agent, not to root inside.
    const w = await d.call('PUT', `/v1/sandboxes/${id}/files?path=/workspace/api.txt`, { raw: 'x', contentType: 'application/octet-stream' });
    expect(w.status, w.text).toBeLessThan(300);
    expect((await exec(id, 'stat -c %u /workspace/api.txt')).stdout).toBe('1000\n');
    // The files API acts as the agent only: a folder of root's group (0770) is closed to it, though the init runs as root.
    expect((await exec(id, 'mkdir -m 0770 /srv/rootonly && chgrp 0 /srv/rootonly', 'root')).exit_code).toBe(0);
    const closed = await d.call('PUT', `/v1/sandboxes/${id}/files?path=/srv/rootonly/x`, { raw: 'x', contentType: 'application/octet-stream' });
    expect(closed.status, closed.text).toBeGreaterThanOrEqual(400);
    expect(closed.text).toMatch(/EACCES|ermission/);
    // The image is in use: its removal is refused.
    await expect(new ImageStore(d.home).remove(TEST_IMAGE, (digest) => sandboxesUsingImage(d.home, digest))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
    expect(await lstat(join(d.home, 'sandboxes', id)).catch((e: NodeJS.ErrnoException) => e.code)).toBe('ENOENT');
  }, 300_000);

  it('snapshot, restore and fork keep the layer (with its owners)', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } });
    expect(c.status, c.text).toBe(201);
    const id = c.body.id as string;
    expect((await exec(id, MAKE_DEB)).exit_code).toBe(0);
    expect((await exec(id, 'dpkg -i /workspace/hello.deb >/dev/null && echo root-file > /workspace/by-root', 'root')).exit_code).toBe(0);
    const snap = await d.call('POST', `/v1/sandboxes/${id}/snapshot`, { body: {} });
    expect(snap.status, snap.text).toBe(201);
    // Undo both, then restore.
    expect((await exec(id, 'dpkg -r agentd-hello >/dev/null && rm /workspace/by-root && test ! -e /usr/bin/agentd-hello', 'root')).exit_code).toBe(0);
    const r = await d.call('POST', `/v1/sandboxes/${id}/restore`, { body: { snapshot_id: snap.body.id } });
    expect(r.status, r.text).toBe(200);
    const back = await exec(id, 'agentd-hello; stat -c %u /usr/bin/agentd-hello /workspace/by-root');
    expect(back.exit_code, back.stderr).toBe(0);
    expect(back.stdout).toBe('hello-from-deb\n0\n0\n');
    // A fork has the layer, root's files still root's inside.
    const f = await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: { snapshot_id: snap.body.id } });
    expect(f.status, f.text).toBe(201);
    const forked = await exec(f.body.id as string, 'agentd-hello; stat -c %u /usr/bin/agentd-hello; touch /usr/bin/x 2>/dev/null || echo agent-denied');
    expect(forked.stdout).toBe('hello-from-deb\n0\nagent-denied\n');
    expect((await exec(f.body.id as string, 'touch /usr/bin/x && echo root-ok', 'root')).stdout).toBe('root-ok\n');
    for (const s of [id, f.body.id as string]) expect((await d.call('DELETE', `/v1/sandboxes/${s}`)).status).toBeLessThan(300);
  }, 300_000);

  it('a sandbox without an image sees the host /usr and has no root user to run as', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(c.status, c.text).toBe(201);
    const id = c.body.id as string;
    // bwrap is on the host, not in the image.
    expect(await lstat('/usr/bin/bwrap').then(() => true)).toBe(true);
    expect(await lstat(join(imageRootfs, 'usr/bin/bwrap')).catch((e: NodeJS.ErrnoException) => e.code)).toBe('ENOENT');
    expect((await exec(id, 'test -x /usr/bin/bwrap && id -u')).stdout).toBe('1000\n');
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'id -u', user: 'root' } });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('POLICY_DENIED');
    const bad = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'id -u', user: 4242 } });
    expect(bad.body.error.code).toBe('INVALID_ARGUMENT');
    expect((await d.call('POST', '/v1/sandboxes', { body: { image: 'no-such-image' } })).body.error.code).toBe('NOT_FOUND');
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
  }, 120_000);
});
