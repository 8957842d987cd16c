import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { BackendRegistry } from '../../src/isolation/registry.js';
import { unavailableProbe } from '../../src/isolation/probe-util.js';
import type { BackendFactory, BackendProbe, IsolationLevel } from '../../src/isolation/types.js';
import type { Logger } from '../../src/util/logger.js';
import { startTestDaemon } from '../daemon/harness.js';

function probeOf(backend: string, isolation: IsolationLevel, available: boolean): BackendProbe {
  if (!available) return unavailableProbe(backend, isolation, `${backend} missing here`);
  const on = { ok: true };
  return { backend, available, isolation, features: { filesystem: on, network: on, pidNamespace: on, seccomp: on, memoryLimit: on, pidsLimit: on, cpuLimit: on, suspend: on } };
}

function fake(name: string, isolation: IsolationLevel, available: boolean): BackendFactory {
  return () => ({ name, isolation, probe: async () => probeOf(name, isolation, available), start: async () => { throw new AgentdError('INTERNAL', 'fake backend'); } });
}

/** Backends that only probe (no sandbox is started in these tests): host-direct works, namespace as told. */
function registry(namespaceAvailable: boolean): BackendRegistry {
  return new BackendRegistry()
    .register('host-direct', fake('host-direct', 'none', true))
    .register('namespace', fake('namespace', 'kernel', namespaceAvailable));
}

function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, logger: { debug() {}, info() {}, error() {}, warn: (_o: object | string, m?: string) => void warnings.push(m ?? '') } };
}

describe('the daemon chooses its default backend with the shared ranking and guard', () => {
  test('auto takes the kernel backend when it works', async () => {
    const d = await startTestDaemon({ isolation: { backend: 'auto' } }, { registry: registry(true) });
    try {
      expect(d.daemon.backend).toBe('namespace');
    } finally {
      await d.close();
    }
  });

  test('auto under workstation falls back to host-direct, with a warning that nothing is isolated', async () => {
    const { logger, warnings } = recordingLogger();
    const d = await startTestDaemon({ isolation: { backend: 'auto' } }, { registry: registry(false), logger });
    try {
      expect(d.daemon.backend).toBe('host-direct');
      expect(warnings).toContain("sandboxes use backend 'host-direct': NO isolation, commands run on the host");
    } finally {
      await d.close();
    }
  });

  test('an alias of an unavailable kernel backend under server is ISOLATION_REQUIRED naming the canonical backend', async () => {
    const started = startTestDaemon({ profile: 'server', isolation: { backend: 'bwrap' }, auth: { providers: [{ type: 'api-key' }] } }, { registry: registry(false) });
    const err = await started.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('ISOLATION_REQUIRED');
    expect((err as AgentdError).message).toBe("profile 'server' requires kernel isolation, but backend 'namespace' is not available on this host (namespace missing here); fix that (see 'agentd doctor') or use profile 'workstation'");
  });
});
