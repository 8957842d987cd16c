import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { newHome, startOnHome, type HomeDaemon } from './life-helpers.js';

const isRoot = process.getuid?.() === 0;
const parent = `agentd-test-life-ds-${process.pid}`;

describe.skipIf(!isRoot)('a failed destroy can be retried, and the next start finishes it (root: real bwrap, cgroups, mounts)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  /**
   * A sandbox whose folder holds a host mount point (outside its volume, which a destroy
   * unmounts lazily with all under it): removing the folder fails with EBUSY until it is unmounted.
   */
  async function sandboxWithBusyFolder(d: HomeDaemon, home: string): Promise<{ id: string; mnt: string }> {
    const created = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const mnt = join(home, 'sandboxes', id, 'pin');
    await mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    cleanups.push(async () => {
      try {
        execFileSync('umount', [mnt], { stdio: 'ignore' });
      } catch {
        // already unmounted
      }
    });
    return { id, mnt };
  }

  test('DELETE that fails leaves the sandbox `destroying`; DELETE again finishes it once the cause is gone', async () => {
    const home = await newHome('agentd-life-destroy-');
    const d = await startOnHome(home, parent);
    cleanups.push(async () => rm(home, { recursive: true, force: true }));
    cleanups.push(() => d.stop());
    const { id, mnt } = await sandboxWithBusyFolder(d, home);

    const failed = await d.call('DELETE', `/v1/sandboxes/${id}`);
    expect(failed.status).toBe(500);
    expect(failed.body.error.code).toBe('INTERNAL');
    expect(failed.body.error.details).toMatchObject({ sandbox_id: id, state: 'destroying' });
    const seen = await d.call('GET', `/v1/sandboxes/${id}`);
    expect(seen.body.state).toBe('destroying');
    expect(seen.body.last_error).toMatch(/destroy failed: .*EBUSY/);
    // Nothing else runs in a half-destroyed sandbox.
    expect((await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'true' } })).body.error.code).toBe('CONFLICT');
    expect((await d.call('POST', `/v1/sandboxes/${id}/start`)).status).toBe(409);

    execFileSync('umount', [mnt]);
    const retried = await d.call('DELETE', `/v1/sandboxes/${id}`);
    expect(retried.status).toBe(204);
    expect((await d.call('GET', `/v1/sandboxes/${id}`)).status).toBe(404);
    expect(existsSync(join(home, 'sandboxes', id))).toBe(false);
  });

  test('a destroy left `destroying` is finished by the next daemon start (folders, snapshots and record gone)', async () => {
    const home = await newHome('agentd-life-destroy2-');
    cleanups.push(async () => rm(home, { recursive: true, force: true }));
    const d = await startOnHome(home, parent);
    const { id, mnt } = await sandboxWithBusyFolder(d, home);
    const snap = await d.call('POST', `/v1/sandboxes/${id}/snapshot`, { body: {} });
    expect(snap.status).toBe(201);
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(500);
    await d.stop();

    execFileSync('umount', [mnt]);
    const again = await startOnHome(home, parent);
    cleanups.push(() => again.stop());
    expect(again.daemon.recovery.destroyed).toEqual([id]);
    expect((await again.call('GET', `/v1/sandboxes/${id}`)).status).toBe(404);
    expect(existsSync(join(home, 'sandboxes', id))).toBe(false);
    expect((await again.call('GET', '/v1/snapshots')).body.snapshots).toEqual([]);
    expect(await readdir(join(home, 'snapshots')).catch(() => [])).toEqual([]);
  });
});

describe.skipIf(!isRoot)('snapshots: own-sandbox restore, delete, fate on destroy, per-tenant quota (root: real bwrap and cgroups)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  async function daemon(overrides: Record<string, unknown> = {}): Promise<{ d: HomeDaemon; home: string }> {
    const home = await newHome('agentd-life-snap-');
    cleanups.push(async () => rm(home, { recursive: true, force: true }));
    const d = await startOnHome(home, parent, overrides);
    cleanups.push(() => d.stop());
    return { d, home };
  }
  async function sandbox(d: HomeDaemon, content: string): Promise<string> {
    const id = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id as string;
    expect((await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: `printf '${content}' > /workspace/f` } })).body.exit_code).toBe(0);
    return id;
  }

  test("restore refuses another sandbox's snapshot of the same tenant (CONFLICT, fork named) and leaves the target's files alone", async () => {
    const { d } = await daemon();
    const a = await sandbox(d, 'A');
    const b = await sandbox(d, 'B');
    const snapA = (await d.call('POST', `/v1/sandboxes/${a}/snapshot`, { body: {} })).body.id as string;
    const res = await d.call('POST', `/v1/sandboxes/${b}/restore`, { body: { snapshot_id: snapA } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CONFLICT');
    expect(res.body.error.details).toMatchObject({ snapshot_id: snapA, sandbox_id: b, snapshot_sandbox_id: a });
    expect(res.body.error.message).toMatch(/fork/);
    expect((await d.call('POST', `/v1/sandboxes/${b}/exec`, { body: { command: 'cat /workspace/f' } })).body.stdout).toBe('B');
    // Its own snapshot restores; fork starts a new sandbox from another's.
    const snapB = (await d.call('POST', `/v1/sandboxes/${b}/snapshot`, { body: {} })).body.id as string;
    await d.call('POST', `/v1/sandboxes/${b}/exec`, { body: { command: 'echo changed > /workspace/f' } });
    expect((await d.call('POST', `/v1/sandboxes/${b}/restore`, { body: { snapshot_id: snapB } })).status).toBe(200);
    expect((await d.call('POST', `/v1/sandboxes/${b}/exec`, { body: { command: 'cat /workspace/f' } })).body.stdout).toBe('B');
    const forked = await d.call('POST', `/v1/sandboxes/${a}/fork`, { body: { snapshot_id: snapA } });
    expect(forked.status).toBe(201);
  });

  test('DELETE /v1/snapshots/{id} removes the row and the files; a second DELETE is 404', async () => {
    const { d, home } = await daemon();
    const a = await sandbox(d, 'A');
    const snap = (await d.call('POST', `/v1/sandboxes/${a}/snapshot`, { body: {} })).body.id as string;
    expect(existsSync(join(home, 'snapshots', snap))).toBe(true);
    expect((await d.call('DELETE', `/v1/snapshots/${snap}`)).status).toBe(204);
    expect(existsSync(join(home, 'snapshots', snap))).toBe(false);
    expect((await d.call('GET', '/v1/snapshots')).body.snapshots).toEqual([]);
    const again = await d.call('DELETE', `/v1/snapshots/${snap}`);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('NOT_FOUND');
  });

  test("a sandbox's snapshots go with it when it is destroyed; with keep_files they stay", async () => {
    const { d, home } = await daemon();
    const gone = await sandbox(d, 'G');
    const kept = await sandbox(d, 'K');
    const snapGone = (await d.call('POST', `/v1/sandboxes/${gone}/snapshot`, { body: {} })).body.id as string;
    const snapKept = (await d.call('POST', `/v1/sandboxes/${kept}/snapshot`, { body: {} })).body.id as string;
    expect((await d.call('DELETE', `/v1/sandboxes/${gone}`)).status).toBe(204);
    expect((await d.call('DELETE', `/v1/sandboxes/${kept}?keep_files=true`)).status).toBe(204);
    const ids = ((await d.call('GET', '/v1/snapshots')).body.snapshots as Array<{ id: string }>).map((s) => s.id);
    expect(ids).toEqual([snapKept]);
    expect(existsSync(join(home, 'snapshots', snapGone))).toBe(false);
    expect(existsSync(join(home, 'snapshots', snapKept))).toBe(true);
  });

  test('the per-tenant snapshot count and byte quotas refuse one more with RESOURCE_EXHAUSTED, and leave no files behind', async () => {
    const { d, home } = await daemon({ limits: { max_snapshots_per_tenant: 2, max_snapshot_bytes_per_tenant: 3 * 1024 * 1024 } });
    const a = await sandbox(d, 'A');
    expect((await d.call('POST', `/v1/sandboxes/${a}/snapshot`, { body: {} })).status).toBe(201);
    // 2 MiB of data: the second snapshot would bring the tenant over 3 MiB.
    await d.call('POST', `/v1/sandboxes/${a}/exec`, { body: { command: 'head -c 2097152 /dev/urandom > /workspace/big' } });
    expect((await d.call('POST', `/v1/sandboxes/${a}/snapshot`, { body: {} })).status).toBe(201);
    const over = await d.call('POST', `/v1/sandboxes/${a}/snapshot`, { body: {} });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('RESOURCE_EXHAUSTED');
    expect(over.body.error.details).toMatchObject({ max_snapshots_per_tenant: 2 });
    const first = ((await d.call('GET', '/v1/snapshots')).body.snapshots as Array<{ id: string; size_bytes: number }>);
    // Free one slot: the count allows it, the bytes do not (2 MiB kept + 2 MiB new > 3 MiB).
    const small = first.find((s) => s.size_bytes < 1024 * 1024);
    expect(small).toBeDefined();
    expect((await d.call('DELETE', `/v1/snapshots/${small?.id ?? ''}`)).status).toBe(204);
    const bytesOver = await d.call('POST', `/v1/sandboxes/${a}/snapshot`, { body: {} });
    expect(bytesOver.status).toBe(429);
    expect(bytesOver.body.error.details).toMatchObject({ max_snapshot_bytes_per_tenant: 3 * 1024 * 1024 });
    expect((await readdir(join(home, 'snapshots'))).filter((n) => !n.startsWith('.'))).toHaveLength(1);
  });
});
