/**
 * Conformance, lifecycle: suspend and resume (processes really stop: the cgroup's CPU count
 * stands still), snapshot and restore, fork (files carried, processes not), and a destroy
 * that leaves nothing behind (processes, cgroups, mounts, folders).
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import {
  buildStaticFixtures, cgroupsOf, cgroupsOfPids, countInside, createSandbox, expectRefused, feature, featureOk, forEachSubject, hostPidsRunning, hostProcessesOf, until,
  markerNumber, mountsOf, REFUSAL_CODES, sh, startSubjectDaemon, upload, why, type StaticFixtures,
} from './harness.js';

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

forEachSubject('lifecycle', (s) => {
  let d: TestDaemon;
  let fx: StaticFixtures;
  beforeAll(async () => {
    fx = await buildStaticFixtures(['busy']);
    d = await startSubjectDaemon(s);
  }, 120_000);
  afterAll(async () => {
    await d?.close();
    await fx?.cleanup();
  });

  if (featureOk(s, 'suspend')) {
    it('suspend stops every process (its CPU count stands still) and refuses execs; resume runs them again', async () => {
      const id = await createSandbox(d);
      await upload(d, id, fx, 'busy');
      await sh(d, id, './bin/busy >/dev/null 2>&1 & echo $! > busy.pid');
      const cpu = async (): Promise<number | undefined> => (await d.call('GET', `/v1/sandboxes/${id}`)).body.usage?.cpu_ms as number | undefined;
      const sus = await d.call('POST', `/v1/sandboxes/${id}/suspend`);
      expect(sus.status, sus.text).toBe(200);
      expect(sus.body.state).toBe('suspended');
      const refused = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'true' } });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('SANDBOX_SUSPENDED');
      const a = await cpu();
      await new Promise((r) => setTimeout(r, 1000));
      const b = await cpu();
      if (a !== undefined && b !== undefined) expect(b - a, 'a frozen busy loop used CPU').toBeLessThan(20);
      const res = await d.call('POST', `/v1/sandboxes/${id}/resume`);
      expect(res.status, res.text).toBe(200);
      expect(res.body.state).toBe('running');
      expect(await sh(d, id, 'echo back')).toBe('back\n');
      if (b !== undefined) {
        const t = Date.now();
        let c = b;
        while (c - b < 50 && Date.now() - t < 10_000) {
          await new Promise((r) => setTimeout(r, 200));
          c = (await cpu()) ?? b;
        }
        expect(c - b, 'the busy loop runs again after resume').toBeGreaterThanOrEqual(50);
      }
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    }, 60_000);
  } else {
    it(`suspend is refused with a clear code (${why(s, 'suspend')})`, async () => {
      const id = await createSandbox(d);
      expectRefused(await d.call('POST', `/v1/sandboxes/${id}/suspend`), ['LIMIT_UNSUPPORTED', 'BACKEND_UNAVAILABLE']);
      expect(await sh(d, id, 'echo still-running')).toBe('still-running\n');
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    });
  }

  const snapshotOff = feature(s, 'snapshot')?.ok === false;
  if (!snapshotOff) {
    it('snapshot, then restore brings the files back as they were', async () => {
      const id = await createSandbox(d);
      await sh(d, id, 'mkdir -p keep && echo one > keep/f.txt && printf "\\000\\377" > keep/bin');
      const snap = await d.call('POST', `/v1/sandboxes/${id}/snapshot`, { body: { name: 'first' } });
      expect(snap.status, snap.text).toBe(201);
      await sh(d, id, 'echo two > keep/f.txt; echo new > extra.txt; rm keep/bin');
      const rest = await d.call('POST', `/v1/sandboxes/${id}/restore`, { body: { snapshot_id: snap.body.id } });
      expect(rest.status, rest.text).toBe(200);
      expect(rest.body.state).toBe('running');
      expect(await sh(d, id, 'cat keep/f.txt; test -e extra.txt && echo extra || echo no-extra; od -An -tx1 keep/bin')).toMatch(/^one\nno-extra\n\s*00 ff\s*$/);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    }, 60_000);

    it('fork carries the files, not the processes; the two sandboxes are apart afterwards', async () => {
      const id = await createSandbox(d);
      const n = markerNumber();
      await sh(d, id, `echo origin > f.txt; sleep ${n} >/dev/null 2>&1 &`);
      expect((await sh(d, id, countInside(n))).trim()).toBe('1');
      const f = await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: {} });
      expect(f.status, f.text).toBe(201);
      const child = f.body.id as string;
      expect(child).not.toBe(id);
      expect(f.body.backend).toBe(s.backend);
      expect(await sh(d, child, 'cat f.txt')).toBe('origin\n');
      // Not carried: the fork runs no copy of it (without a pid namespace it sees the origin's one, and only that).
      expect((await sh(d, child, countInside(n))).trim()).toBe(featureOk(s, 'pidNamespace') ? '0' : '1');
      expect((await sh(d, id, countInside(n))).trim()).toBe('1');
      await sh(d, child, 'echo child > f.txt');
      expect(await sh(d, id, 'cat f.txt')).toBe('origin\n');
      for (const x of [child, id]) expect((await d.call('DELETE', `/v1/sandboxes/${x}`)).status).toBe(204);
    }, 60_000);
  } else {
    it(`snapshot is refused with a clear code (${why(s, 'snapshot')})`, async () => {
      const id = await createSandbox(d);
      expectRefused(await d.call('POST', `/v1/sandboxes/${id}/snapshot`, { body: {} }), REFUSAL_CODES);
      expectRefused(await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: {} }), REFUSAL_CODES);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    });
  }

  it('destroy leaves nothing behind: no process, cgroup, mount or folder of the sandbox', async () => {
    const id = await createSandbox(d);
    const n = markerNumber();
    await sh(d, id, `sleep ${n} >/dev/null 2>&1 & setsid sleep ${n} >/dev/null 2>&1 &`);
    // Both started in the background: wait until both run (as exec.test.ts does), then destroy.
    expect(await until(async () => (await sh(d, id, countInside(n))).trim() === '2', 5000)).toBe(true);
    const folder = join(d.home, 'sandboxes', id);
    expect(await exists(folder)).toBe(true);
    // The sandbox as the host sees it: its processes (the commands, where they are host
    // processes; else the runtime's, which name the sandbox) and their cgroups, plus any cgroup
    // named after the sandbox. Found before the destroy, so "none after" means removed, not unseen.
    const pids = [...(await hostPidsRunning(`sleep ${n}`)), ...(await hostProcessesOf(id))];
    expect(pids.length, 'the host sees some process of the sandbox').toBeGreaterThan(0);
    const groups = [...new Set([...(await cgroupsOf(id)), ...(await cgroupsOfPids(pids))])];
    const limited = featureOk(s, 'memoryLimit') || featureOk(s, 'pidsLimit') || featureOk(s, 'cpuLimit');
    if (limited) expect(groups.length, 'a backend that enforces limits runs the sandbox in a cgroup of its own').toBeGreaterThan(0);
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    expect(await hostPidsRunning(`sleep ${n}`)).toEqual([]);
    expect(await hostProcessesOf(id)).toEqual([]);
    expect(await cgroupsOf(id)).toEqual([]);
    const left: string[] = [];
    for (const g of groups) if (await exists(g)) left.push(g);
    expect(left, 'cgroups of the sandbox left behind').toEqual([]);
    expect(await mountsOf(id)).toEqual([]);
    expect(await exists(folder)).toBe(false);
    expect((await d.call('GET', `/v1/sandboxes/${id}`)).status).toBe(404);
  }, 60_000);

  it('an exec in a destroyed sandbox is NOT_FOUND', async () => {
    const id = await createSandbox(d);
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'true' } });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NOT_FOUND');
  });
});
