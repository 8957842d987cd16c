import { describe, expect, test } from 'vitest';
import type { Logger } from '../../src/util/logger.js';
import { startTestDaemon } from '../daemon/harness.js';
import { fakeBuiltins } from '../isolation/fake-backends.js';

function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, logger: { debug() {}, info() {}, error() {}, warn: (_o: object | string, m?: string) => void warnings.push(m ?? '') } };
}

// Probe-only fake backends: these tests start no sandbox, they check which backend the daemon takes
// (they enforce no limit: the default limits are turned off, else the daemon refuses to start).
const NO_LIMITS = { limits: { memory_bytes: 0, pids: 0, cpus: 0, disk_bytes: 0 } };
describe('the daemon chooses its default backend with the shared ranking and guard', () => {
  test('auto takes the kernel backend when it works', async () => {
    const d = await startTestDaemon({ isolation: { backend: 'auto' }, sandbox: NO_LIMITS }, { registry: fakeBuiltins(true) });
    try {
      expect(d.daemon.backend).toBe('namespace');
    } finally {
      await d.close();
    }
  });

  test('auto under workstation falls back to host-direct, with a warning that nothing is isolated', async () => {
    const { logger, warnings } = recordingLogger();
    const d = await startTestDaemon({ isolation: { backend: 'auto' }, sandbox: NO_LIMITS }, { registry: fakeBuiltins(false), logger });
    try {
      expect(d.daemon.backend).toBe('host-direct');
      expect(warnings).toContain("sandboxes use backend 'host-direct': NO isolation, commands run on the host");
    } finally {
      await d.close();
    }
  });

  test('an alias of an unavailable kernel backend under server is ISOLATION_REQUIRED naming the canonical backend', async () => {
    const started = startTestDaemon({ profile: 'server', isolation: { backend: 'bwrap' }, auth: { providers: [{ type: 'api-key' }] } }, { registry: fakeBuiltins(false) });
    await expect(started).rejects.toMatchObject({
      name: 'AgentdError',
      code: 'ISOLATION_REQUIRED',
      message: "profile 'server' requires kernel isolation, but backend 'namespace' is not available on this host (namespace missing here); fix that (see 'agentd doctor') or use profile 'workstation'",
    });
  });
});
