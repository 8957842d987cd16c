/**
 * spawnInit: READY, and every way it can fail to come (with the stderr tail in the error and
 * nothing left running).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnInit } from '../../src/channel/spawn.js';
import type { Logger } from '../../src/util/logger.js';
import { HAVE_INIT, INIT_PATH, PATH_ENV, processesWith, survivors, token } from './real-init.js';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (o: object | string, m?: string) => lines.push(typeof o === 'string' ? o : (m ?? ''));
  return { lines, debug: () => {}, info: rec, warn: rec, error: rec };
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentd-spawn-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('spawnInit failures', () => {
  it('reports a program that cannot be started as BACKEND_UNAVAILABLE', async () => {
    await expect(spawnInit([join(dir, 'no-such-init')], { cwd: dir, env: PATH_ENV })).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
      message: expect.stringContaining('no-such-init'),
    });
  });

  it('reports an exit before READY with the exit code and the stderr tail', async () => {
    const err = await spawnInit(['sh', '-c', 'echo "bwrap: cannot do the thing" >&2; exit 3'], { cwd: dir, env: PATH_ENV }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SANDBOX_DEAD', details: { exitCode: 3, stderrTail: 'bwrap: cannot do the thing' } });
    expect((err as Error).message).toMatch(/exited with code 3 .*cannot do the thing/);
  });

  it('kills the whole process group when READY does not come in time', async () => {
    const mark = token();
    const started = Date.now();
    const err = await spawnInit(['sh', '-c', 'sleep "$1" & echo still starting >&2; sleep "$1"', 'sh', mark], { cwd: dir, env: PATH_ENV, readyTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT', details: { signal: 'SIGKILL', stderrTail: 'still starting' } });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await survivors(mark)).toEqual([]);
  });

  it('stops on abort', async () => {
    const mark = token();
    const ac = new AbortController();
    const p = spawnInit(['sleep', mark], { cwd: dir, env: PATH_ENV, signal: ac.signal });
    for (let i = 0; i < 100 && (await processesWith(mark)).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(await survivors(mark)).toEqual([]);
    const pre = new AbortController();
    pre.abort();
    await expect(spawnInit(['true'], { cwd: dir, env: PATH_ENV, signal: pre.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('rejects garbage on stdout instead of READY', async () => {
    const err = await spawnInit(['sh', '-c', 'printf "\\001\\000\\000\\000"; sleep 5'], { cwd: dir, env: PATH_ENV, readyTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PROTOCOL_ERROR' });
    expect((err as Error).message).toMatch(/frame too short/);
  });
});

describe.skipIf(!HAVE_INIT)('spawnInit with the real agentd-init', () => {
  it('forwards stderr lines to the logger, runs in its own process group and stops on stdin EOF', async () => {
    const logger = recordingLogger();
    const { child, channel, ready } = await spawnInit(['sh', '-c', 'echo "hello from the wrapper" >&2; exec "$0" --fs-root "$1" --subreaper', INIT_PATH, dir], { cwd: dir, env: PATH_ENV, logger });
    try {
      expect(ready.pid).toBe(child.pid);
      // stderr and stdout are separate pipes: the line may arrive just after READY.
      for (let i = 0; i < 100 && !logger.lines.includes('hello from the wrapper'); i++) await new Promise((r) => setTimeout(r, 10));
      expect(logger.lines).toContain('hello from the wrapper');
      const stat = (await import('node:fs')).readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      expect(pgid).toBe(child.pid);
      const exited = new Promise((r) => child.once('exit', (code) => r(code)));
      child.stdin?.end();
      expect(await exited).toBe(0);
      expect(await channel.closed).toMatchObject({ code: 'SANDBOX_DEAD' });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
