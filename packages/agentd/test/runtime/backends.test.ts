import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { BackendRegistry } from '../../src/isolation/registry.js';
import { unavailableProbe } from '../../src/isolation/probe-util.js';
import type { BackendFactory, BackendProbe, IsolationLevel, ProfileName } from '../../src/isolation/types.js';
import { DaemonBackends } from '../../src/runtime/backends.js';
import { silentLogger } from '../../src/util/logger.js';

function probeOf(backend: string, isolation: IsolationLevel, available: boolean): BackendProbe {
  if (!available) return unavailableProbe(backend, isolation, `${backend} missing here`);
  const on = { ok: true };
  return { backend, available, isolation, features: { filesystem: on, network: on, pidNamespace: on, seccomp: on, memoryLimit: on, pidsLimit: on, cpuLimit: on, suspend: on } };
}

function fake(name: string, isolation: IsolationLevel, available: boolean): BackendFactory {
  return () => ({ name, isolation, probe: async () => probeOf(name, isolation, available), start: async () => { throw new AgentdError('INTERNAL', 'fake'); } });
}

function backends(profile: ProfileName, requireKernel = false): DaemonBackends {
  const registry = new BackendRegistry()
    .register('host-direct', fake('host-direct', 'none', true))
    .register('namespace', fake('namespace', 'kernel', false));
  return new DaemonBackends({ registry, initPath: '/x/agentd-init', options: {}, profile, requireKernel, logger: silentLogger });
}

function thrown(fn: () => unknown): AgentdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentdError) return err;
    throw err;
  }
  throw new Error('expected an AgentdError');
}

describe('DaemonBackends: the per-request profile guard', () => {
  test('a backend is refused until it was probed (fail closed)', async () => {
    const set = backends('workstation');
    const err = thrown(() => set.assertProfileAllows('workstation', set.get('host-direct')));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(err.message).toBe("backend 'host-direct' was not probed; it cannot be used until it is");
    await set.probeAll();
    expect(() => set.assertProfileAllows('workstation', set.get('host-direct'))).not.toThrow();
  });

  test.each([
    ['server', 'workstation', 'server'],
    ['workstation', 'paranoid', 'paranoid'],
  ] as const)('daemon profile %s, request profile %s: the stricter one (%s) refuses a soft backend', async (daemon, request, stricter) => {
    const set = backends(daemon);
    await set.probeAll();
    const err = thrown(() => set.assertProfileAllows(request, set.get('host-direct')));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toContain(`profile '${stricter}' requires kernel isolation, but backend 'host-direct' provides none`);
  });

  test("the daemon's require_kernel applies under a profile that does not force it", async () => {
    const set = backends('custom', true);
    await set.probeAll();
    const err = thrown(() => set.assertProfileAllows('workstation', set.get('host-direct')));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toContain("profile 'custom' with isolation.require_kernel = true requires kernel isolation");
  });

  test('an unavailable backend is refused under any profile, named by its canonical name', async () => {
    const set = backends('workstation');
    await set.probeAll();
    const err = thrown(() => set.assertProfileAllows('workstation', set.get('bwrap')));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(err.message).toBe("backend 'namespace' is not available on this host (namespace missing here); see 'agentd doctor'");
  });

  test('one instance per backend, whatever name or alias asks for it', () => {
    const set = backends('workstation');
    expect(set.get('bwrap')).toBe(set.get('namespace'));
  });
});
