/**
 * Conformance, limits: memory, pids and CPU. Where the probe says a limit is enforced, a
 * sandbox with it proves it (an allocation past it is OOM-killed and reported, a fork bomb
 * stops at the pids limit, busy loops get no more CPU than the quota as the cgroup counts it:
 * never a wall-clock assertion on speed); where the probe says it is not, asking for it is
 * refused with LIMIT_UNSUPPORTED, never ignored.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { buildStaticFixtures, createSandbox, exec, feature, featureOk, forEachSubject, sh, startSubjectDaemon, upload, why, type StaticFixtures } from './harness.js';

const MiB = 1024 * 1024;

forEachSubject('limits', (s) => {
  let d: TestDaemon;
  let fx: StaticFixtures;
  beforeAll(async () => {
    fx = await buildStaticFixtures(['alloc', 'fork-bomb', 'busy']);
    d = await startSubjectDaemon(s);
  }, 120_000);
  afterAll(async () => {
    await d?.close();
    await fx?.cleanup();
  });

  const refusedLimit = async (limits: Record<string, number>): Promise<void> => {
    const r = await d.call('POST', '/v1/sandboxes', { body: { limits } });
    expect(r.status, r.text).toBe(400);
    expect(r.body.error.code).toBe('LIMIT_UNSUPPORTED');
  };

  if (featureOk(s, 'memoryLimit')) {
    it('memory: an allocation past the limit is OOM-killed and reported; the sandbox lives on', async () => {
      const id = await createSandbox(d, { limits: { memory_bytes: 64 * MiB } });
      await upload(d, id, fx, 'alloc');
      const big = await exec(d, id, { argv: ['./bin/alloc', '256'], timeout_ms: 30_000 });
      expect(big.resource_limited, JSON.stringify(big)).toBe(true);
      expect(big.signal).toBe('SIGKILL');
      expect(big.stdout).not.toContain('allocated');
      const small = await exec(d, id, { argv: ['./bin/alloc', '8'] });
      expect(small).toMatchObject({ exit_code: 0, resource_limited: false, stdout: 'allocated 8\n' });
      const got = await d.call('GET', `/v1/sandboxes/${id}`);
      expect(got.body.limits.memory_bytes).toBe(64 * MiB);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    }, 60_000);
  } else {
    it(`memory: a memory limit is refused with LIMIT_UNSUPPORTED (${why(s, 'memoryLimit')})`, () => refusedLimit({ memory_bytes: 64 * MiB }));
  }

  if (featureOk(s, 'pidsLimit')) {
    it('pids: a fork bomb stops at the limit (EAGAIN), is killed by its timeout, and the sandbox still runs commands', async () => {
      const id = await createSandbox(d, { limits: { pids: 32 } });
      await upload(d, id, fx, 'fork-bomb');
      const r = await exec(d, id, { argv: ['./bin/fork-bomb'], timeout_ms: 3000 });
      expect(r.timed_out).toBe(true);
      expect(r.stdout).toContain('fork failed: EAGAIN');
      expect(await sh(d, id, 'echo alive')).toBe('alive\n');
      const got = await d.call('GET', `/v1/sandboxes/${id}`);
      expect(got.body.limits.pids).toBe(32);
      if (got.body.usage?.pids !== undefined) expect(got.body.usage.pids).toBeLessThanOrEqual(32);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    }, 60_000);
  } else {
    it(`pids: a pids limit is refused with LIMIT_UNSUPPORTED (${why(s, 'pidsLimit')})`, () => refusedLimit({ pids: 32 }));
  }

  const disk = feature(s, 'diskLimit');
  if (disk === undefined) {
    it.skip(`disk: skipped (${why(s, 'diskLimit')})`, () => undefined);
  } else if (disk.ok) {
    it('disk: writes past the sandbox\'s own file system size fail with ENOSPC inside; the sandbox lives on', async () => {
      const id = await createSandbox(d, { limits: { disk_bytes: 32 * MiB } });
      const r = await exec(d, id, { command: 'head -c 67108864 /dev/zero > big; echo "rc=$?"; rm -f big' });
      expect(r.stdout).toMatch(/rc=[1-9]/);
      expect(r.stderr).toMatch(/No space left on device/);
      expect(await sh(d, id, 'echo small > f && cat f')).toBe('small\n');
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    }, 60_000);
  } else {
    it(`disk: a disk limit is refused with LIMIT_UNSUPPORTED (${why(s, 'diskLimit')})`, () => refusedLimit({ disk_bytes: 32 * MiB }));
  }

  const rl = feature(s, 'rlimits');
  if (rl?.ok === true) {
    it('open files: the limit asked for is every command\'s RLIMIT_NOFILE', async () => {
      const id = await createSandbox(d, { limits: { open_files: 64 } });
      expect((await sh(d, id, 'ulimit -n; ulimit -Hn')).trim().split('\n')).toEqual(['64', '64']);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    });
  } else if (rl?.ok === false) {
    it(`open files: an open-files limit is refused with LIMIT_UNSUPPORTED (${why(s, 'rlimits')})`, () => refusedLimit({ open_files: 64 }));
  } else {
    it.skip(`open files: skipped (${why(s, 'rlimits')})`, () => undefined);
  }

  if (featureOk(s, 'cpuLimit')) {
    it('cpu: two busy loops under a 0.5-core quota use at most about half a core, as the cgroup counts it', async () => {
      const id = await createSandbox(d, { limits: { cpus: 0.5 } });
      await upload(d, id, fx, 'busy');
      const usage = async (): Promise<number> => {
        const g = await d.call('GET', `/v1/sandboxes/${id}`);
        expect(g.body.usage?.cpu_ms, `a backend that enforces a CPU quota reports the sandbox's CPU use: ${g.text}`).toBeTypeOf('number');
        return g.body.usage.cpu_ms as number;
      };
      const before = await usage();
      const t0 = process.hrtime.bigint();
      const r = await exec(d, id, { command: './bin/busy & a=$!; ./bin/busy & b=$!; sleep 3; kill -9 $a $b; wait' });
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      expect(r.signal ?? r.exit_code).not.toBe(null);
      const used = (await usage()) - before;
      // The quota is an upper bound whatever the load: 0.5 of the wall time, plus one scheduling period of slack.
      expect(used, `cpu_ms ${used} over ${wallMs.toFixed(0)} ms wall`).toBeLessThanOrEqual(0.5 * wallMs * 1.1 + 150);
      // And the counter measured the loops at all (a busy loop gets some CPU even on a loaded host).
      expect(used).toBeGreaterThan(50);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    }, 60_000);
  } else {
    it(`cpu: a CPU quota is refused with LIMIT_UNSUPPORTED (${why(s, 'cpuLimit')})`, () => refusedLimit({ cpus: 0.5 }));
  }
});
