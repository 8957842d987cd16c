/**
 * The init is not trusted: a hostile agentd-init (a real process, spawned the way every
 * backend spawns the init) breaks the protocol on purpose. Each violation must end with
 * the channel closed, the pending operation failed with PROTOCOL_ERROR (or a capped
 * listing with PAYLOAD_TOO_LARGE), the hostile process killed, and the daemon's memory
 * bounded; the daemon side keeps serving other sandboxes (a real init still works).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/channel/frames.js';
import { runCommand } from '../../src/channel/lifecycle.js';
import { spawnInit, type SpawnedInit } from '../../src/channel/spawn.js';
import { HAVE_INIT, INIT_PATH } from '../channel/real-init.js';
import { sleepers } from '../init/raw-init.js';

const HOSTILE = fileURLToPath(new URL('./fixtures/hostile-init.mjs', import.meta.url));
const MiB = 1024 * 1024;

const started: Array<{ s: SpawnedInit; dir: string }> = [];

async function hostile(mode: string, ...args: string[]): Promise<SpawnedInit> {
  const dir = await mkdtemp(join(tmpdir(), 'agentd-hostile-'));
  const s = await spawnInit([process.execPath, HOSTILE, mode, String(PROTOCOL_VERSION), ...args], { cwd: dir, env: { PATH: '/usr/bin:/bin' } });
  started.push({ s, dir });
  return s;
}

function exitOf(s: SpawnedInit): Promise<NodeJS.Signals | number | null> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return Promise.resolve(s.child.signalCode ?? s.child.exitCode);
  return new Promise((resolve) => s.child.once('exit', (code, signal) => resolve(signal ?? code)));
}

function heapMiB(): number {
  global.gc?.();
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / MiB;
}

afterEach(async () => {
  for (const { s, dir } of started.splice(0)) {
    try {
      process.kill(-(s.child.pid as number), 'SIGKILL');
    } catch {
      // already killed by the daemon side, as it should be
    }
    await rm(dir, { recursive: true, force: true });
  }
});

describe('a hostile agentd-init', () => {
  test('output beyond the credit window: the exec fails with PROTOCOL_ERROR, the init is killed, nothing is queued beyond one window', async () => {
    const s = await hostile('flood');
    const before = heapMiB();
    const h = s.channel.exec({ argv: ['x'], env: {} });
    await h.started;
    // Nobody consumes the output: a well-behaved init would stop at the 1 MiB window.
    await expect(h.exited).rejects.toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringMatching(/beyond the output credit/) });
    expect(await exitOf(s)).toBe('SIGKILL');
    expect(await s.channel.closed).toMatchObject({ code: 'PROTOCOL_ERROR' });
    // The flood was 512 MiB; the daemon kept at most its window (plus a frame in the decoder).
    expect(heapMiB() - before).toBeLessThan(64);
  });

  test('a listing that never ends stops at the cap with PAYLOAD_TOO_LARGE, memory bounded', async () => {
    const s = await hostile('giant-list');
    const before = heapMiB();
    await expect(s.channel.fs.list('/')).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(heapMiB() - before).toBeLessThan(256);
    expect(s.channel.isClosed).toBe(false);
  });

  test('a read answered with more data than asked for is a violation', async () => {
    const s = await hostile('big-read');
    await expect(s.channel.fs.read('f', { limit: 10 })).rejects.toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringMatching(/FS_DATA of 1048576 bytes for a read of at most 10/) });
    expect(await exitOf(s)).toBe('SIGKILL');
  });

  test('a frame length of 4 GiB is a violation: nothing of it is buffered', async () => {
    const s = await hostile('huge-length');
    const before = heapMiB();
    await expect(s.channel.ping()).rejects.toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringMatching(/frame too large/) });
    expect(await exitOf(s)).toBe('SIGKILL');
    expect(heapMiB() - before).toBeLessThan(64);
  });

  test('garbage is a violation', async () => {
    const s = await hostile('garbage');
    await expect(s.channel.ping()).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    expect(await exitOf(s)).toBe('SIGKILL');
  });

  test('the whole tree of a violating init is killed, including a child in its own session (host-direct has no pid namespace)', async () => {
    const mark = `3600.${Date.now()}${process.pid}`;
    const s = await hostile('garbage-with-child', mark);
    for (let i = 0; i < 100 && (await sleepers(mark)).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await sleepers(mark)).length).toBe(1);
    await expect(s.channel.ping()).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    expect(await exitOf(s)).toBe('SIGKILL');
    let left = await sleepers(mark);
    for (let i = 0; i < 100 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      left = await sleepers(mark);
    }
    expect(left).toEqual([]);
  });

  test('an answer to a request id the daemon never used is a violation', async () => {
    const s = await hostile('unknown-id');
    await expect(s.channel.ping()).rejects.toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringMatching(/unknown request id/) });
    expect(await exitOf(s)).toBe('SIGKILL');
  });

  test('an error message beyond the cap is a violation', async () => {
    const s = await hostile('long-error');
    await expect(s.channel.fs.stat('x')).rejects.toMatchObject({ code: 'PROTOCOL_ERROR', message: expect.stringMatching(/ERROR message of 524288 bytes/) });
    expect(await exitOf(s)).toBe('SIGKILL');
  });

  test.skipIf(!HAVE_INIT)('the daemon side keeps serving: a real init still runs commands after the violations', async () => {
    const bad = await hostile('garbage');
    await expect(bad.channel.ping()).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    const dir = await mkdtemp(join(tmpdir(), 'agentd-hostile-'));
    const good = await spawnInit([INIT_PATH, '--fs-root', dir, '--subreaper'], { cwd: dir, env: {} });
    started.push({ s: good, dir });
    const r = await runCommand(good.channel, { argv: ['/bin/echo', 'still serving'], env: {} });
    expect(r.stdout.toString()).toBe('still serving\n');
    await good.channel.shutdown();
  });
});
