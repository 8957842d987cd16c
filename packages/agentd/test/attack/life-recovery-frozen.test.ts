import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureBuilt, startDaemonChild } from '../daemon/child.js';
import { rawCall } from '../daemon/harness.js';
import { childHome, startOnHome, type HomeDaemon } from './life-helpers.js';

const isRoot = process.getuid?.() === 0;

/** Live (not zombie) processes whose cgroup lies under `parent`, with their state letter. */
async function processesUnder(parent: string): Promise<Array<{ pid: number; state: string }>> {
  const out: Array<{ pid: number; state: string }> = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    const state = /^\d+ \(.*\) (\S) /s.exec(stat)?.[1];
    if (state === undefined || state === 'Z') continue;
    const cg = await readFile(`/proc/${p}/cgroup`, 'utf8').catch(() => '');
    if (cg.includes(`/${parent}/`)) out.push({ pid: Number(p), state });
  }
  return out;
}

async function freezerState(parent: string, id: string): Promise<string | undefined> {
  return (await readFile(join('/sys/fs/cgroup/freezer', parent, id, 'freezer.state'), 'utf8').catch(() => undefined))?.trim();
}

describe.skipIf(!isRoot)('recovery thaws and kills the frozen processes of a sandbox suspended when the daemon crashed (root: real cgroup freezer)', () => {
  let home: string;
  let file: string;
  const parent = `agentd-test-frozen-${process.pid}`;
  beforeAll(async () => {
    ensureBuilt();
    ({ home, file } = await childHome('agentd-frozen-', parent));
  }, 240_000);
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  test('a SIGKILLed daemon leaves frozen processes; the next start kills them and removes the group', async () => {
    const child = await startDaemonChild(file);
    let next: HomeDaemon | undefined;
    try {
      const socket = { socket: join(home, 'agentd.sock') };
      const id = (await rawCall(socket, 'POST', '/v1/sandboxes', { body: {} })).body.id as string;
      // A process that would outlive its init if it could: started in the background, detached.
      expect((await rawCall(socket, 'POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'setsid sleep 1000 >/dev/null 2>&1 < /dev/null & echo started' } })).body.stdout).toBe('started\n');
      expect((await rawCall(socket, 'POST', `/v1/sandboxes/${id}/suspend`)).body.state).toBe('suspended');
      child.child.kill('SIGKILL');
      await child.exited;
      await new Promise((r) => setTimeout(r, 300));
      // The crash left them: frozen, so even the SIGKILL of bwrap's die-with-parent cannot land.
      expect(await freezerState(parent, id)).toBe('FROZEN');
      expect((await processesUnder(parent)).length).toBeGreaterThan(0);

      next = await startOnHome(home, parent);
      expect(next.daemon.recovery.stopped).toEqual([id]);
      expect(next.daemon.recovery.orphanCgroups).toEqual([id]);
      expect(await processesUnder(parent)).toEqual([]);
      expect(await freezerState(parent, id)).toBeUndefined();
      // The sandbox starts again on its files.
      expect((await next.call('POST', `/v1/sandboxes/${id}/start`)).body.state).toBe('running');
      expect((await next.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo back' } })).body.stdout).toBe('back\n');
    } finally {
      if (child.child.exitCode === null && child.child.signalCode === null) {
        child.child.kill('SIGKILL');
        await child.exited;
      }
      await next?.stop();
    }
  }, 60_000);
});
