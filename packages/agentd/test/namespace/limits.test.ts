/**
 * Resource attacks against a namespace sandbox, contained by its cgroup: fork bomb (pids),
 * memory bomb (OOM kill, reported), disk filling (what is and is not contained), and
 * suspend/resume through the freezer.
 */
import { spawnSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/channel/index.js';
import { CgroupDriver } from '../../src/isolation/cgroup/index.js';
import { attempt, harness, noteSkip, plantAttack, run, sh, skipReason, type Harness } from './fixture.js';

const cgroupReason = await (async () => {
  if (skipReason !== undefined) return skipReason;
  let probe;
  try {
    probe = await new CgroupDriver().probe();
  } catch (err) {
    return `cgroup probe failed: ${(err as Error).message}`;
  }
  const missing = (['memory', 'pids', 'cpu', 'freezer'] as const).filter((c) => !probe.controllers[c].ok);
  return missing.length > 0 ? `cgroup controllers not usable here: ${missing.map((c) => `${c} (${probe.controllers[c].detail})`).join('; ')}` : undefined;
})();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe.skipIf(noteSkip('resource limits', cgroupReason))('namespace sandbox: resource limits', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await harness();
  });

  afterAll(async () => {
    await h?.close();
  });

  test('fork bomb: stopped by the pids limit (EAGAIN), the host is unaffected, the sandbox is still destroyable', async () => {
    const sbx = await h.start({ limits: { pids: 40 } });
    await plantAttack(sbx);
    const r = await run(sbx, ['/workspace/attack', 'fork-bomb'], { timeoutMs: 20_000 });
    const [forks, errno] = r.stdout.toString().trim().split(' ');
    expect(errno).toBe('EAGAIN');
    // init + bwrap + the bomb itself count too: fewer than 40 forks got through.
    expect(Number(forks)).toBeLessThan(40);
    expect(Number(forks)).toBeGreaterThan(10);
    // The host still starts processes.
    expect(spawnSync('/bin/true').status).toBe(0);
    const usage = await sbx.usage();
    expect(usage.pids).toBeLessThanOrEqual(40);
    const t0 = Date.now();
    await sbx.destroy();
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(sbx.isAlive()).toBe(false);
    expect(await new CgroupDriver().attach(sbx.id)).toBeUndefined();
  });

  test("commands are the OOM killer's first choice: they and their children start at oom_score_adj 500, the init (pid 1) keeps its own", async () => {
    const sbx = await h.start({});
    const show = 'cat /proc/self/oom_score_adj /proc/1/oom_score_adj; sh -c "cat /proc/self/oom_score_adj"';
    const r = await run(sbx, ['/bin/sh', '-c', show]);
    expect(r.stdout.toString().trim().split('\n')).toEqual(['500', '0', '500']);
    // The lowered-priority (fork) start path too.
    const niced = await runCommand(sbx.channel, { argv: ['/bin/cat', '/proc/self/oom_score_adj'], env: sbx.baseEnv, nice: 4 });
    expect(niced.stdout.toString().trim()).toBe('500');
    await sbx.destroy();
  });

  test('a command that exhausts the memory limit twice in a row is killed, never the sandbox (init and bwrap survive)', async () => {
    const sbx = await h.start({ limits: { memoryBytes: 32 * 1024 * 1024 } });
    const hog = 'head -c 200000000 /dev/zero | tail -c 1 >/dev/null; x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo done';
    for (let i = 0; i < 3; i++) {
      const r = await run(sbx, ['/bin/sh', '-c', hog], { timeoutMs: 60_000 });
      expect(r.stdout.toString()).not.toContain('done');
      expect(sbx.isAlive()).toBe(true);
    }
    expect((await sbx.usage()).oomKilled).toBe(true);
    expect((await run(sbx, ['/bin/echo', 'still here'])).stdout.toString()).toBe('still here\n');
    await sbx.destroy();
  });

  test('memory bomb: OOM-killed (SIGKILL), and usage() reports oomKilled', async () => {
    const sbx = await h.start({ limits: { memoryBytes: 64 * 1024 * 1024 } });
    await plantAttack(sbx);
    expect((await sbx.usage()).oomKilled).toBe(false);
    const r = await run(sbx, ['/workspace/attack', 'alloc-mib', '512'], { timeoutMs: 20_000 });
    expect(r.signal).toBe('SIGKILL');
    const usage = await sbx.usage();
    expect(usage.oomKilled).toBe(true);
    expect(usage.memoryPeakBytes).toBeLessThanOrEqual(64 * 1024 * 1024);
    // The sandbox itself survives its command's OOM kill and keeps working.
    expect(sbx.isAlive()).toBe(true);
    expect((await sh(sbx, 'echo alive')).out).toBe('alive');
    // oomKilled is "since the last read".
    expect((await sbx.usage()).oomKilled).toBe(false);
  });

  test('memory-backed files count against the memory limit: filling /dev/shm ends in the OOM killer, not in host memory', async () => {
    const sbx = await h.start({ limits: { memoryBytes: 48 * 1024 * 1024 } });
    const r = await sh(sbx, 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=200 2>/dev/null; echo "exit=$?"');
    // dd is killed by the OOM killer (exit 137 = 128 + SIGKILL) once the tmpfs pages reach the limit.
    expect(r.out).toBe('exit=137');
    expect((await sbx.usage()).oomKilled).toBe(true);
  });

  test('disk filling: writes land only in the sandbox folders; everything else is read-only', async () => {
    // There is no disk quota: a workspace shares the file system of AGENTD_HOME (docs/security.md).
    // What holds: the sandbox cannot write anywhere but its own folders.
    const sbx = await h.start();
    await plantAttack(sbx);
    for (const p of ['/fill', '/usr/fill', '/etc/fill', '/var/fill']) expect(await attempt(sbx, 'write', p)).toBe('EROFS');
    const r = await sh(sbx, 'dd if=/dev/zero of=/workspace/fill bs=1M count=32 2>/dev/null; echo "exit=$?"');
    expect(r.out).toBe('exit=0');
    expect((await stat(join(sbx.spec.dirs.workspace, 'fill'))).size).toBe(32 * 1024 * 1024);
  });

  // Thresholds leave room for a busy 2-core machine: running, the loop gets well over 8% of a
  // core; frozen, it gets nothing (the 2 ms allow for a read racing the freeze).
  test('suspend stops a busy loop (CPU time stops growing); resume continues it', async () => {
    const sbx = await h.start({ limits: { cpus: 1 } });
    await plantAttack(sbx);
    await sh(sbx, '/workspace/attack spin >/dev/null 2>&1 & echo started');
    const cpu = async (): Promise<number> => (await sbx.usage()).cpuUsec ?? Number.NaN;
    const grow = async (ms: number): Promise<number> => {
      const a = await cpu();
      await sleep(ms);
      return (await cpu()) - a;
    };
    expect(await grow(500)).toBeGreaterThan(40_000);
    await sbx.suspend();
    expect(sbx.suspended).toBe(true);
    expect(await grow(500)).toBeLessThan(2_000);
    await sbx.resume();
    expect(sbx.suspended).toBe(false);
    expect(await grow(500)).toBeGreaterThan(40_000);
  });

  test('a suspended sandbox is still destroyable', async () => {
    const sbx = await h.start();
    await sh(sbx, 'sleep 300 >/dev/null 2>&1 & echo started');
    await sbx.suspend();
    await sbx.destroy();
    expect(sbx.isAlive()).toBe(false);
    expect(await new CgroupDriver().attach(sbx.id)).toBeUndefined();
  });
});
