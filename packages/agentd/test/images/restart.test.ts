/**
 * A sandbox with an image across a daemon stop and start: the stop unmounts its overlay and
 * idmapped image (nothing of it stays mounted on the host), the layer keeps what root
 * installed, and the sandbox starts again on it with the same two uids.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/runtime/daemon.js';
import { localCall, startTestDaemon } from '../daemon/harness.js';
import { linkCachedImages, TEST_IMAGE } from './helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('image restart test skipped: images need a root daemon');

function mountsOf(id: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`/${id}/.image-`));
}

describe.skipIf(!isRoot)('an image sandbox across a daemon restart', () => {
  it('stop unmounts its root; start mounts it again on the same layer', async () => {
    const d = await startTestDaemon();
    try {
      await linkCachedImages(d.home);
      const c = await d.call('POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } });
      expect(c.status, c.text).toBe(201);
      const id = c.body.id as string;
      const w = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo kept > /etc/agentd-kept; cat /proc/self/uid_map', user: 'root' } });
      expect(w.body.exit_code, w.body.stderr).toBe(0);
      expect(mountsOf(id).length).toBe(2);
      const config = d.daemon.config;
      await d.daemon.close();
      expect(mountsOf(id)).toEqual([]);
      const again = await startDaemon(config, { sweepIntervalMs: 100, stopGraceMs: 1000 });
      try {
        const call = localCall(d.home, again.address ?? '');
        const s = await call('POST', `/v1/sandboxes/${id}/start`);
        expect(s.status, s.text).toBeLessThan(300);
        const r = await call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'cat /etc/agentd-kept; cat /proc/self/uid_map', user: 'root' } });
        expect(r.body.exit_code, r.body.stderr).toBe(0);
        // Same content, same uid map (the two leases are kept while the sandbox's files exist).
        expect(r.body.stdout).toBe(`kept\n${w.body.stdout as string}`);
        expect((await call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
        expect(mountsOf(id)).toEqual([]);
      } finally {
        await again.close();
      }
    } finally {
      await d.close().catch(() => undefined);
    }
  }, 300_000);
});
