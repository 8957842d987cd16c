/**
 * The cgroup v2 code paths on the real kernel: a driver rooted at the host's cgroup2 mount
 * sees a pure-v2 layout. On this hybrid host that hierarchy has no controllers, so memory,
 * pids and cpu are refused with the reason, while the core v2 files (cgroup.freeze,
 * cgroup.events, cgroup.kill, cpu.stat) are exercised for real.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AgentdError } from '../../src/core/errors.js';
import { CgroupDriver, layoutFromMountinfo, type SandboxCgroup } from '../../src/isolation/cgroup/index.js';
import { buildFixtures, type Fixtures } from '../fixtures/build.js';
import { exitOf, sleep, spawnInCgroup, waitForLine } from './helpers.js';

const unified = layoutFromMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).unified;
const reason = unified === undefined ? 'no cgroup2 mount under /sys/fs/cgroup' : process.getuid?.() !== 0 ? 'needs root' : '';
if (reason) console.warn(`skipping real cgroup2 core tests: ${reason}`);
const v2Memory = unified !== undefined && readFileSync(`${unified}/cgroup.controllers`, 'utf8').split(/\s+/).includes('memory');

describe.skipIf(reason !== '')('cgroup v2 core files on the real kernel', () => {
  const root = unified ?? '/nonexistent';
  const driver = new CgroupDriver({ root, parent: `agentd-test-v2-${process.pid}-${Math.random().toString(36).slice(2, 8)}` });
  let fx: Fixtures;
  let group: SandboxCgroup | undefined;
  beforeAll(async () => {
    fx = await buildFixtures(['busy', 'forever']);
  });
  afterAll(async () => {
    await group?.remove().catch(() => undefined);
    await driver.cleanupOrphans([]);
    await driver.removeParent();
    await fx?.cleanup();
  });

  test('probe sees version 2; freeze and kill are core features', async () => {
    const probe = await driver.probe();
    expect(probe.version).toBe(2);
    expect(probe.controllers.freezer).toEqual({ ok: true, detail: `cgroup v2 at ${root}` });
    expect(probe.kill.ok).toBe(existsSync(`${root}/${driver.parent}/cgroup.kill`));
    const offered = readFileSync(`${root}/cgroup.controllers`, 'utf8').trim().split(/\s+/);
    for (const c of ['memory', 'pids', 'cpu'] as const) {
      expect(probe.controllers[c].ok).toBe(offered.includes(c));
      if (!offered.includes(c)) expect(probe.controllers[c].detail).toContain(`${root}/cgroup.controllers`);
    }
  });

  test.skipIf(v2Memory)('a memory limit without the v2 memory controller is LIMIT_UNSUPPORTED', async () => {
    const err = (await driver.create('v2-refused', { memoryBytes: 64 * 1024 * 1024 }).catch((e: unknown) => e)) as AgentdError;
    expect(err.code).toBe('LIMIT_UNSUPPORTED');
    expect(err.message).toContain('memoryBytes=67108864 needs the memory controller');
  });

  test('cgroup.freeze stops a busy loop (cpu.stat stops growing), thaw resumes, cgroup.kill empties the group', async () => {
    group = await driver.create('v2-core');
    expect(group.procsFiles).toEqual([`${root}/${driver.parent}/v2-core/cgroup.procs`]);
    const busy = spawnInCgroup(group.procsFiles, [fx.path('busy')]);
    const tree = spawnInCgroup(group.procsFiles, ['/bin/sh', '-c', `"$1" & "$1" & wait`, 'sh', fx.path('forever')]);
    await waitForLine(tree, /^ready$/);
    const growth = async (ms: number): Promise<number> => {
      const a = (await group!.usage()).cpuUsec ?? 0;
      await sleep(ms);
      return ((await group!.usage()).cpuUsec ?? 0) - a;
    };
    expect(await growth(300)).toBeGreaterThan(20_000);
    await group.freeze();
    expect(await group.isFrozen()).toBe(true);
    expect(await growth(300)).toBeLessThan(1_000);
    await group.thaw();
    expect(await growth(300)).toBeGreaterThan(20_000);
    // busy, sh and its two `forever` children
    expect((await group.pids()).length).toBe(4);
    await group.killAll();
    expect(await group.pids()).toEqual([]);
    expect(await exitOf(busy)).toEqual({ code: null, signal: 'SIGKILL' });
    await group.remove();
    expect(existsSync(`${root}/${driver.parent}/v2-core`)).toBe(false);
  });
});
