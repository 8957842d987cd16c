/**
 * Through the real daemon's API (real bwrap, real cgroups): a command's `setsid` double fork
 * does not survive the exec's timeout, and the timeout does not touch another exec of the
 * same sandbox. Seen from a second exec that lists the sandbox's processes.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noteSkip, skipReason } from '../namespace/fixture.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

const LIST = 'for p in /proc/[0-9]*; do [ "${p#/proc/}" = "$$" ] && continue; c=$(tr "\\0" " " < $p/cmdline 2>/dev/null) || continue; echo "${p#/proc/} $c"; done';

function marker(): string {
  return `3600.${BigInt(`0x${randomBytes(6).toString('hex')}`).toString().padStart(15, '0')}`;
}

describe.skipIf(noteSkip('setsid survivors through the API', skipReason))('exec timeout through the API: no setsid survivor, no collateral', () => {
  let d: TestDaemon;
  let sbx: string;

  beforeAll(async () => {
    d = await startTestDaemon();
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(c.status).toBe(201);
    sbx = c.body.id;
  });

  afterAll(async () => {
    await d?.close();
  });

  async function sleepersOf(mark: string): Promise<string[]> {
    const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: LIST } });
    expect(r.status).toBe(200);
    return (r.body.stdout as string).split('\n').filter((l) => l.endsWith(` sleep ${mark} `));
  }

  it('a timed-out command leaves no process behind; a concurrent exec keeps its own setsid child', async () => {
    const mine = marker();
    const other = marker();
    const bystander = d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: `setsid sh -c "sleep ${other} &"; sleep ${other}`, timeout_ms: 120_000 } });
    for (let i = 0; i < 50 && (await sleepersOf(other)).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: `setsid sh -c "sleep ${mine} &"; setsid sh -c "setsid sleep ${mine} & sleep ${mine}" & sleep ${mine}`, timeout_ms: 1500 } });
    expect(r.status).toBe(200);
    expect(r.body.timed_out).toBe(true);
    let left = await sleepersOf(mine);
    for (let i = 0; i < 30 && left.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = await sleepersOf(mine);
    }
    expect(left).toEqual([]);
    expect((await sleepersOf(other)).length).toBe(2);
    // End the bystander: its own processes, by pid, from a third exec.
    const pids = (await sleepersOf(other)).map((l) => l.split(' ')[0]).join(' ');
    await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: `kill -9 ${pids}` } });
    expect((await bystander).status).toBe(200);
  });
});
