/**
 * An exec's timeout and kill reach every process the command started, including `setsid`
 * double forks whose middle process exited long before the timeout (the orphan was
 * reparented away from the command's tree and process group), and nothing of another exec
 * in the same sandbox. Checked from a second exec that lists the sandbox's processes.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCommand, streamCommand } from '../../src/channel/lifecycle.js';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { harness, noteSkip, sh, skipReason, type Harness } from '../namespace/fixture.js';

const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };

/** `sleep` durations that are also unique markers in /proc/PID/cmdline. */
function marker(): string {
  return `3600.${BigInt(`0x${randomBytes(6).toString('hex')}`).toString().padStart(15, '0')}`;
}

/** Command lines of the sandbox's live processes containing `mark`, listed by another exec. */
async function inSandbox(sbx: SandboxHandle, mark: string): Promise<string[]> {
  const r = await sh(sbx, `for p in /proc/[0-9]*; do s=$(cat $p/stat 2>/dev/null) || continue; case "$s" in *") Z "*) continue;; esac; c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); case "$c" in *${mark}*) echo "$c";; esac; done`);
  return r.out === '' ? [] : r.out.split('\n').filter((l) => !l.includes('/proc/[0-9]*'));
}

async function settle(sbx: SandboxHandle, mark: string, want: (n: number) => boolean): Promise<string[]> {
  let found: string[] = [];
  for (let i = 0; i < 40; i++) {
    found = await inSandbox(sbx, mark);
    if (want(found.length)) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  return found;
}

describe.skipIf(noteSkip('setsid survivors', skipReason))('exec timeout and kill reach setsid double forks (namespace sandbox)', () => {
  let h: Harness;
  let sbx: SandboxHandle;

  beforeAll(async () => {
    h = await harness();
    sbx = await h.start();
  });

  afterAll(async () => {
    await h?.close();
  });

  test('after TIMEOUT no process of the command remains; a concurrent exec keeps its processes', async () => {
    const mine = marker();
    const other = marker();
    // Another exec of the same sandbox, with its own setsid'd background process.
    const bystander = streamCommand(sbx.channel, { argv: ['/bin/sh', '-c', `setsid sh -c "sleep ${other} &"; sleep ${other}`], env: ENV }, { timeoutMs: 60_000 });
    const bystanderDone = bystander.result.catch(() => undefined);
    const consume = (async () => {
      for await (const _ of bystander) void _;
    })().catch(() => undefined);
    // The command: a setsid double fork (its middle process exits at once), a background
    // process that moved to its own process group, and a foreground sleep.
    const script = [`setsid sh -c "sleep ${mine} &"`, `setsid sh -c "setsid sleep ${mine} & sleep ${mine}" &`, `sleep ${mine}`].join('\n');
    const started = runCommand(sbx.channel, { argv: ['/bin/sh', '-c', script], env: ENV }, { timeoutMs: 1500, graceMs: 300 });
    // Everything is running (the orphans were reparented) before the timeout fires.
    expect((await settle(sbx, mine, (n) => n >= 5)).length).toBeGreaterThanOrEqual(5);
    const r = await started;
    expect(r.timedOut).toBe(true);
    expect(await settle(sbx, mine, (n) => n === 0)).toEqual([]);
    // The other exec's processes, setsid'd orphan included, are untouched.
    const others = await inSandbox(sbx, other);
    expect(others.filter((c) => c.startsWith(`sleep ${other}`)).length).toBe(2);
    await sh(sbx, `pkill -f ${other} || kill $(for p in /proc/[0-9]*; do case "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" in *${other}*) echo \${p#/proc/};; esac; done) 2>/dev/null; true`);
    await bystanderDone;
    await consume;
  });

  test('killing its own shepherd is no way out: everything the command left behind is killed', async () => {
    const mine = marker();
    const r = await runCommand(sbx.channel, { argv: ['/bin/sh', '-c', `setsid sh -c "sleep ${mine} &"; sleep 0.2; kill -9 $PPID; sleep ${mine}`], env: ENV }, { timeoutMs: 30_000 });
    // The leader itself was left behind by the killed shepherd: killed too, well before the timeout.
    expect(r.timedOut).toBe(false);
    expect(r.signal).toBe('SIGKILL');
    expect(await settle(sbx, mine, (n) => n === 0)).toEqual([]);
  });

  test('a background process of a finished exec outlives it (until its own signal or the sandbox end)', async () => {
    const mine = marker();
    const r = await runCommand(sbx.channel, { argv: ['/bin/sh', '-c', `setsid sh -c "sleep ${mine} >/dev/null 2>&1 &"; echo done`], env: ENV }, { timeoutMs: 10_000 });
    expect(r.stdout.toString()).toBe('done\n');
    expect((await settle(sbx, mine, (n) => n === 1)).length).toBe(1);
  });
});
