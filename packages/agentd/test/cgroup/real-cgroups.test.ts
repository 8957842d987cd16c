/**
 * The cgroup driver against the host's real cgroups (this machine: v1 memory/pids/cpu/
 * cpuacct/freezer plus a controller-less cgroup2 mount). Every test starts real processes.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { CgroupDriver, SandboxCgroup, toSandboxUsage } from '../../src/isolation/cgroup/index.js';
import { buildFixtures, type Fixtures } from '../fixtures/build.js';
import { exitOf, haveInit, initPath, isolatedDriver, sleep, spawnInCgroup, waitForLine } from './helpers.js';

const { driver, teardown } = isolatedDriver();
const probe = await driver.probe();
const missing = Object.entries(probe.controllers).filter(([, s]) => !s.ok).map(([c, s]) => `${c}: ${s.detail}`);
if (missing.length > 0) console.warn(`skipping real cgroup tests: ${missing.join('; ')}`);
if (!haveInit) console.warn(`agentd-init not built at ${initPath} (make -C packages/agentd/native): launching through /bin/sh instead`);

const MiB = 1024 * 1024;
let seq = 0;
const newId = (): string => `t${process.pid}-${++seq}`;

describe.skipIf(missing.length > 0)('cgroup driver on this host', () => {
  let fx: Fixtures;
  const groups: SandboxCgroup[] = [];
  const make = async (limits: Parameters<typeof driver.create>[1] = {}): Promise<SandboxCgroup> => {
    const g = await driver.create(newId(), limits);
    groups.push(g);
    return g;
  };

  beforeAll(async () => {
    fx = await buildFixtures(['alloc', 'fork-bomb', 'busy', 'forever']);
  });
  afterAll(async () => {
    for (const g of groups) await g.remove().catch(() => undefined);
    await teardown();
    await fx?.cleanup();
  });

  test('probe reports the layout it found in mountinfo', () => {
    expect(probe.version).not.toBe('none');
    for (const c of ['memory', 'pids', 'cpu', 'freezer'] as const) expect(probe.controllers[c].detail).toMatch(/cgroup v[12] at \//);
  });

  test('memory limit: a process allocating past it is OOM-killed and usage reports it', async () => {
    const g = await make({ memoryBytes: 32 * MiB });
    const small = spawnInCgroup(g.procsFiles, [fx.path('alloc'), '8']);
    expect(await exitOf(small)).toEqual({ code: 0, signal: null });
    const big = spawnInCgroup(g.procsFiles, [fx.path('alloc'), '256']);
    expect(await exitOf(big)).toEqual({ code: null, signal: 'SIGKILL' });
    const usage = await g.usage();
    expect(usage.oomKills).toBeGreaterThanOrEqual(1);
    expect(usage.memoryPeakBytes).toBeGreaterThan(24 * MiB);
    expect(usage.memoryPeakBytes).toBeLessThanOrEqual(32 * MiB);
  });

  test('setLimits raises and lowers memory (v1 keeps memsw >= limit) and cpu on a live group', async () => {
    const g = await make({ memoryBytes: 32 * MiB, cpus: 0.5 });
    const mem = g.paths.memory;
    const cpu = g.paths.cpu;
    if (mem === undefined || cpu === undefined) throw new Error('memory and cpu placements expected on this host');
    const memFiles = mem.version === 1 ? ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes'] : ['memory.max'];
    const readMem = async (): Promise<number[]> => {
      const out: number[] = [];
      for (const f of memFiles) {
        const text = await readFile(`${mem.dir}/${f}`, 'utf8').catch(() => undefined);
        if (text !== undefined) out.push(Number(text.trim()));
      }
      return out;
    };
    await g.setLimits({ memoryBytes: 128 * MiB });
    expect(new Set(await readMem())).toEqual(new Set([128 * MiB]));
    await g.setLimits({ memoryBytes: 16 * MiB, cpus: 1.5 });
    expect(new Set(await readMem())).toEqual(new Set([16 * MiB]));
    const quota = cpu.version === 1 ? (await readFile(`${cpu.dir}/cpu.cfs_quota_us`, 'utf8')).trim() : (await readFile(`${cpu.dir}/cpu.max`, 'utf8')).split(' ')[0];
    expect(quota).toBe('150000');
  });

  test('pids limit: a fork bomb gets EAGAIN, stays within pids.max, and killAll empties the group', async () => {
    const g = await make({ pids: 16 });
    const bomb = spawnInCgroup(g.procsFiles, [fx.path('fork-bomb')]);
    expect(await waitForLine(bomb, /^fork failed/)).toBe('fork failed: EAGAIN');
    const usage = await g.usage();
    expect(usage.pids).toBeGreaterThan(1);
    expect(usage.pids).toBeLessThanOrEqual(16);
    await g.killAll();
    expect(await g.pids()).toEqual([]);
    expect(await exitOf(bomb)).toEqual({ code: null, signal: 'SIGKILL' });
  });

  test('killAll without cgroup.kill (a pure v1 host) freezes, signals and empties a fork bomb', async () => {
    const g = await make({ pids: 64 });
    const bomb = spawnInCgroup(g.procsFiles, [fx.path('fork-bomb')]);
    await waitForLine(bomb, /^fork failed/);
    // The same group seen without its cgroup2 directory, as on a host with only v1 mounted.
    const v1Only = new SandboxCgroup(g.sandboxId, { ...g.paths, unified: undefined });
    expect(v1Only.dirs.some((d) => d === g.paths.unified)).toBe(false);
    await v1Only.killAll();
    expect(await g.pids()).toEqual([]);
    expect(await exitOf(bomb)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await g.isFrozen()).toBe(false);
  });

  test('toSandboxUsage reports oomKilled only when the counter grew since the previous reading', async () => {
    const g = await make({ memoryBytes: 16 * MiB });
    const before = await g.usage();
    expect(toSandboxUsage(before).oomKilled).toBe(false);
    await exitOf(spawnInCgroup(g.procsFiles, [fx.path('alloc'), '64']));
    const after = await g.usage();
    expect(toSandboxUsage(after, before)).toMatchObject({ oomKilled: true, memoryPeakBytes: after.memoryPeakBytes, cpuUsec: after.cpuUsec });
    expect(toSandboxUsage(after, after).oomKilled).toBe(false);
  });

  test('cpu quota 0.2 keeps a busy loop near 20% of one core', async () => {
    const g = await make({ cpus: 0.2 });
    const busy = spawnInCgroup(g.procsFiles, [fx.path('busy')]);
    try {
      await sleep(200);
      const before = (await g.usage()).cpuUsec ?? 0;
      const t0 = process.hrtime.bigint();
      await sleep(1000);
      const used = ((await g.usage()).cpuUsec ?? 0) - before;
      const wallUsec = Number(process.hrtime.bigint() - t0) / 1000;
      const share = used / wallUsec;
      expect(share).toBeGreaterThan(0.05);
      expect(share).toBeLessThan(0.35);
    } finally {
      await g.killAll();
      await exitOf(busy);
    }
  });

  test('freeze stops a busy loop’s CPU time; thaw resumes it', async () => {
    const g = await make();
    const busy = spawnInCgroup(g.procsFiles, [fx.path('busy')]);
    try {
      await sleep(100);
      const growth = async (ms: number): Promise<number> => {
        const a = (await g.usage()).cpuUsec ?? 0;
        await sleep(ms);
        return ((await g.usage()).cpuUsec ?? 0) - a;
      };
      expect(await growth(300)).toBeGreaterThan(20_000);
      await g.freeze();
      expect(await g.isFrozen()).toBe(true);
      expect(await growth(300)).toBeLessThan(1_000);
      await g.thaw();
      expect(await g.isFrozen()).toBe(false);
      expect(await growth(300)).toBeGreaterThan(20_000);
    } finally {
      await g.killAll();
      await exitOf(busy);
    }
  });

  test('killAll works on a frozen group too', async () => {
    const g = await make();
    const child = spawnInCgroup(g.procsFiles, [fx.path('forever')]);
    await waitForLine(child, /^ready$/);
    await g.freeze();
    await g.killAll();
    expect(await g.pids()).toEqual([]);
    expect(await exitOf(child)).toEqual({ code: null, signal: 'SIGKILL' });
  });

  test('cleanupOrphans (as after a daemon crash) kills and removes groups not kept', async () => {
    const own = isolatedDriver();
    try {
      const orphan = await own.driver.create(newId());
      const kept = await own.driver.create(newId());
      const child = spawnInCgroup(orphan.procsFiles, [fx.path('forever')]);
      await waitForLine(child, /^ready$/);
      // A fresh driver, as a restarted daemon would have: no in-memory knowledge of the groups.
      const restarted = new CgroupDriver({ parent: own.driver.parent });
      expect(await restarted.list()).toEqual([orphan.sandboxId, kept.sandboxId].sort());
      const removed = await restarted.cleanupOrphans([kept.sandboxId]);
      expect(removed).toEqual([orphan.sandboxId]);
      expect(await exitOf(child)).toEqual({ code: null, signal: 'SIGKILL' });
      for (const dir of orphan.dirs) expect(existsSync(dir)).toBe(false);
      for (const dir of kept.dirs) expect(existsSync(dir)).toBe(true);
      // The restarted daemon can take the kept group back as it was made.
      const reattached = await restarted.attach(kept.sandboxId);
      expect(reattached?.dirs.sort()).toEqual([...kept.dirs].sort());
      expect(reattached?.paths).toEqual(kept.paths);
    } finally {
      await own.teardown();
    }
  });

  test('removeParent refuses while sandbox groups exist, then removes the parent from every hierarchy', async () => {
    const own = isolatedDriver();
    const g = await own.driver.create(newId());
    const err = (await own.driver.removeParent().catch((e: unknown) => e)) as AgentdError;
    expect(err.code).toBe('CONFLICT');
    await g.remove();
    await own.driver.removeParent();
    const parents = g.dirs.map((d) => d.slice(0, d.lastIndexOf('/')));
    expect(parents.length).toBeGreaterThan(0);
    for (const p of parents) expect(existsSync(p)).toBe(false);
  });

  test('remove() kills what is left and leaves no directory; a second remove is a no-op', async () => {
    const g = await make({ memoryBytes: 64 * MiB, pids: 32, cpus: 1 });
    expect(g.dirs.length).toBeGreaterThanOrEqual(4);
    const child = spawnInCgroup(g.procsFiles, [fx.path('forever')]);
    await waitForLine(child, /^ready$/);
    await g.remove();
    expect(await exitOf(child)).toEqual({ code: null, signal: 'SIGKILL' });
    for (const dir of g.dirs) expect(existsSync(dir)).toBe(false);
    await g.remove();
  });

  for (const via of ['init', 'sh'] as const) {
    test.skipIf(via === 'init' && !haveInit)(`procsFiles put a process started via ${via} (and its children) in every hierarchy of the group`, async () => {
      const g = await make();
      const child = spawnInCgroup(g.procsFiles, ['/bin/sh', '-c', `"$1" & wait`, 'sh', fx.path('forever')], via);
      try {
        await waitForLine(child, /^ready$/);
        const pids = await g.pids();
        expect(pids).toContain(child.pid);
        expect(pids.length).toBe(2);
        for (const pid of pids) {
          const own = await readFile(`/proc/${pid}/cgroup`, 'utf8');
          for (const dir of g.dirs) expect(own).toContain(dir.slice(dir.indexOf(`/${driver.parent}/`)));
        }
      } finally {
        await g.killAll();
      }
    });
  }

  test('create refuses an id that is not a safe directory name', async () => {
    const err = await driver.create('../escape', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('INVALID_ARGUMENT');
  });
});
