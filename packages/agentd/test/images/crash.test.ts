/**
 * A SIGKILLed daemon leaves the overlay and idmapped image of its running image sandboxes
 * mounted on the host (nothing else can unmount them); the next daemon's start-up recovery
 * unmounts them, and the sandbox starts again on its layer.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureBuilt, startDaemonChild } from '../daemon/child.js';
import { rawCall } from '../daemon/harness.js';
import { childHome, startOnHome, type HomeDaemon } from '../attack/life-helpers.js';
import { linkCachedImages, TEST_IMAGE } from './helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('image crash test skipped: images need a root daemon');

function mountsOf(id: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`/${id}/.image-`));
}

describe.skipIf(!isRoot)('recovery after a SIGKILLed daemon with an image sandbox', () => {
  let home: string;
  let file: string;
  const parent = `agentd-test-imgcrash-${process.pid}`;
  beforeAll(async () => {
    ensureBuilt();
    ({ home, file } = await childHome('agentd-imgcrash-', parent));
    await linkCachedImages(home);
  }, 900_000);
  afterAll(async () => {
    if (home !== undefined) await rm(home, { recursive: true, force: true });
  });

  test('the next start unmounts what the crash left and the sandbox runs again on its layer', async () => {
    const child = await startDaemonChild(file);
    let next: HomeDaemon | undefined;
    try {
      const socket = { socket: join(home, 'agentd.sock') };
      const c = await rawCall(socket, 'POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } });
      expect(c.status, c.text).toBe(201);
      const id = c.body.id as string;
      expect((await rawCall(socket, 'POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo survived > /etc/agentd-crash', user: 'root' } })).body.exit_code).toBe(0);
      child.child.kill('SIGKILL');
      await child.exited;
      await new Promise((r) => setTimeout(r, 300));
      expect(mountsOf(id).length).toBe(2);
      next = await startOnHome(home, parent);
      expect(next.daemon.recovery.stopped).toEqual([id]);
      expect(mountsOf(id)).toEqual([]);
      expect((await next.call('POST', `/v1/sandboxes/${id}/start`)).body.state).toBe('running');
      expect((await next.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'cat /etc/agentd-crash' } })).body.stdout).toBe('survived\n');
      expect((await next.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
      expect(mountsOf(id)).toEqual([]);
    } finally {
      if (child.child.exitCode === null && child.child.signalCode === null) {
        child.child.kill('SIGKILL');
        await child.exited;
      }
      await next?.stop();
    }
  }, 120_000);
});
