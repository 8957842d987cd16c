/**
 * A timeout is enforced even when the sandbox is saturated: a real fork bomb under a pids
 * limit plus CPU spinners, inside a real namespace sandbox with its cgroup. The daemon's
 * timer does not depend on the init answering (lifecycle.ts: after the SIGKILL it kills
 * the command's processes from the host, then ends the run), so the exec returns timed out
 * within a bound (timeout + 10 s here: an upper bound, not a speed claim), nothing of the
 * bomb survives, and the sandbox still runs commands.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { findInit } from '../../src/channel/host-kill.js';
import { runCommand, streamCommand } from '../../src/channel/lifecycle.js';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { CgroupDriver } from '../../src/isolation/cgroup/index.js';
import { harness, noteSkip, sh, skipReason, type Harness } from '../namespace/fixture.js';

const cgroupReason = await (async () => {
  if (skipReason !== undefined) return skipReason;
  try {
    const probe = await new CgroupDriver().probe();
    const missing = (['pids', 'cpu'] as const).filter((c) => !probe.controllers[c].ok);
    return missing.length > 0 ? `cgroup controllers not usable here: ${missing.join(', ')}` : undefined;
  } catch (err) {
    return `cgroup probe failed: ${(err as Error).message}`;
  }
})();

const TIMEOUT_MS = 3000;

describe.skipIf(noteSkip('timeout in a saturated sandbox', cgroupReason))('exec timeout in a sandbox saturated by a fork bomb', () => {
  let h: Harness;
  let build: string;

  beforeAll(async () => {
    h = await harness();
    build = await mkdtemp(join(tmpdir(), 'agentd-bomb-'));
    execFileSync('gcc', ['-O1', '-static', '-Wall', '-Werror', '-o', join(build, 'bomb'), fileURLToPath(new URL('./fixtures/bomb.c', import.meta.url))]);
  });

  afterAll(async () => {
    await h?.close();
    if (build) await rm(build, { recursive: true, force: true });
  });

  test('the exec returns TIMEOUT within timeout + 10 s and no process of the bomb remains', { timeout: 90_000 }, async () => {
    const sbx = await h.start({ limits: { pids: 64, cpus: 0.5 } });
    const mark = `bomb${randomBytes(4).toString('hex')}`;
    // Every process of the bomb forks for ever against the pids limit and spins in between.
    await copyFile(join(build, 'bomb'), join(sbx.spec.dirs.workspace, 'bomb'));
    await chmod(join(sbx.spec.dirs.workspace, 'bomb'), 0o755);
    const t0 = performance.now();
    const r = await runCommand(sbx.channel, { argv: ['/workspace/bomb', mark], env: { PATH: '/usr/bin:/bin' } }, { timeoutMs: TIMEOUT_MS, graceMs: 1000 });
    const took = performance.now() - t0;
    console.log(`fork bomb: the exec returned timed out after ${Math.round(took)} ms (timeout ${TIMEOUT_MS} ms)`);
    expect(r.timedOut).toBe(true);
    expect(took).toBeLessThan(TIMEOUT_MS + 10_000);
    // Nothing of the bomb is left: a later exec finds no process running the script.
    let left = 'not checked';
    for (let i = 0; i < 150; i++) {
      // Right after the timeout the pids limit may still be full while the killed bomb is reaped (seconds on a loaded machine).
      left = (await sh(sbx, `for p in /proc/[0-9]*; do [ "\${p#/proc/}" = "$$" ] && continue; case "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" in *${mark}*) echo \${p#/proc/};; esac; done`).catch((err: unknown) => ({ out: `exec failed: ${(err as Error).message}` }))).out;
      if (left === '') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(left).toBe('');
    expect((await sh(sbx, 'echo alive')).out).toBe('alive');
  });

  test('an init that does not answer at all (stopped from the host) cannot hold a timeout: TIMEOUT within timeout + 10 s, the command killed from the host', { timeout: 60_000 }, async () => {
    const sbx = await h.start();
    const mark = `3600.${BigInt(`0x${randomBytes(6).toString('hex')}`).toString().padStart(15, '0')}`;
    const run = streamCommand(sbx.channel, { argv: ['/bin/sh', '-c', `setsid sh -c "sleep ${mark} &"; sleep ${mark}`], env: { PATH: '/usr/bin:/bin' } }, { timeoutMs: 1500, graceMs: 500 });
    const it = run[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ type: 'start' });
    while ((await hostPids(mark)).length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    const init = await hostInit(sbx);
    process.kill(init, 'SIGSTOP');
    try {
      const t0 = performance.now();
      let ev = await it.next();
      while (!ev.done && ev.value.type !== 'exit') ev = await it.next();
      const took = performance.now() - t0;
      expect(ev.value).toMatchObject({ type: 'exit', result: { timedOut: true, signal: 'SIGKILL' } });
      expect(took).toBeLessThan(1500 + 10_000);
      // Killed from the host while the init was stopped.
      expect(await hostPids(mark)).toEqual([]);
    } finally {
      process.kill(init, 'SIGCONT');
    }
    expect((await sh(sbx, 'echo alive')).out).toBe('alive');
  });
});

/** Host pids of live processes whose command line contains `mark`. */
async function hostPids(mark: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8');
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      if (cmd.includes(mark) && stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z') out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/** The host pid of a namespace sandbox's init: the PID 1 child of its bwrap. */
async function hostInit(sbx: SandboxHandle): Promise<number> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8');
      if (!cmd.startsWith('bwrap\0') && !cmd.includes('/bwrap\0')) continue;
      if (!cmd.includes(sbx.spec.dirs.workspace)) continue;
      const init = await findInit(Number(name));
      if (init !== Number(name)) return init;
    } catch {
      // gone
    }
  }
  throw new Error(`no init found for sandbox ${sbx.id}`);
}
