/**
 * `isolation.backends.podman.socket`: the backend uses an operator-run podman service (here
 * one the test starts, on a home of its own) instead of starting its own; nothing of the
 * backend's own service is made under the sandboxes' home.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PodmanBackend } from '../../src/isolation/podman/index.js';
import { PodmanService, podmanPaths } from '../../src/isolation/podman/service.js';
import { silentLogger } from '../../src/util/logger.js';
import { native, noteSkip, sh, specFor } from './fixture.js';

describe.skipIf(noteSkip('operator socket'))('podman backend on an operator-given socket', () => {
  let operatorHome: string;
  let home: string;
  let service: PodmanService;
  beforeAll(async () => {
    operatorHome = await mkdtemp(join('/var/tmp', 'agentd-podman-op-'));
    home = await mkdtemp(join('/var/tmp', 'agentd-podman-use-'));
    await chmod(home, 0o711);
    await chmod(operatorHome, 0o711);
    service = new PodmanService('/usr/bin/podman', podmanPaths(operatorHome), silentLogger);
    await service.api();
  }, 120_000);
  afterAll(async () => {
    await service?.stopAndWait();
    await rm(operatorHome, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  }, 120_000);

  test('sandboxes run through it; the backend starts no service of its own', async () => {
    const backend = new PodmanBackend(native.init, silentLogger, { socket: podmanPaths(operatorHome).socket });
    expect((await backend.probe()).available).toBe(true);
    const s = await backend.start(specFor(home, 'op-1'));
    try {
      expect((await sh(s, 'id -un')).stdout.toString()).toBe('agent\n');
      expect(existsSync(podmanPaths(home).socket)).toBe(false);
      expect(existsSync(podmanPaths(home).storageConf)).toBe(false);
      const api = await backend.apiFor(home);
      expect(api.socketPath).toBe(podmanPaths(operatorHome).socket);
    } finally {
      await s.destroy();
      await backend.close();
    }
    // A socket nobody serves: the probe says so.
    const gone = new PodmanBackend(native.init, silentLogger, { socket: join(home, 'nothing.sock') });
    const probe = await gone.probe();
    expect(probe.available).toBe(false);
    expect(probe.reason).toContain('does not answer');
  }, 120_000);
});
