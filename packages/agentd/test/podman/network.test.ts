/**
 * Network 'allowlist' on the podman backend: the container has no network but its own `lo`,
 * and agentd-init's relay (the daemon's net folder bound read-only) reaches an allowed
 * upstream through the daemon's egress proxy; a raw connection to the host's loopback does not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { createSandbox, run, startNetDaemon, startUpstreams, type Upstreams } from '../network/fixtures.js';
import { noteSkip } from './fixture.js';

describe.skipIf(noteSkip('network allowlist'))('podman: allowlist egress through the init relay', () => {
  let up: Upstreams;
  let d: TestDaemon;
  let id: string;
  beforeAll(async () => {
    up = await startUpstreams(['up.test']);
    d = await startNetDaemon(up, { isolation: { backend: 'podman' }, sandbox: { network: 'allowlist', limits: { disk_bytes: 0 } } });
    id = await createSandbox(d, { network: 'allowlist' });
  }, 120_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  }, 120_000);

  it('curl reaches an allowed upstream through the proxy; a direct connect to the host loopback is refused', async () => {
    const info = await d.call('GET', `/v1/sandboxes/${id}`);
    expect(info.body.backend).toBe('podman');
    const plain = await run(d, id, ['curl', '-sS', '--max-time', '10', `http://up.test:${up.http}/`]);
    expect(plain.stdout).toBe(`hello from upstream up.test:${up.http}\n`);
    const denied = await run(d, id, ['curl', '-fsS', '--max-time', '10', `http://other.test:${up.http}/`]);
    expect(denied.code).not.toBe(0);
    // Refused by the proxy's rules (other.test is not allowed), not by a broken path.
    expect(denied.stderr).toMatch(/403/);
    const raw = await run(d, id, ['python3', '-c', `import socket; s = socket.socket(); s.settimeout(3)\ntry:\n  s.connect(('127.0.0.1', ${up.http})); print('CONNECTED')\nexcept OSError as e: print(type(e).__name__)`], { HTTP_PROXY: '', http_proxy: '' });
    expect(raw.stdout).toBe('ConnectionRefusedError\n');
  }, 120_000);
});
