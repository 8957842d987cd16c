import { describe, expect, test } from 'vitest';
import type { ProfileName } from '../../src/isolation/types.js';
import { DaemonBackends } from '../../src/runtime/backends.js';
import { silentLogger } from '../../src/util/logger.js';
import { fakeBuiltins } from '../isolation/fake-backends.js';

/** The backends of a daemon with `profile`: host-direct works, namespace is missing here. */
function backends(profile: ProfileName, requireKernel = false): DaemonBackends {
  return new DaemonBackends({ registry: fakeBuiltins(false), initPath: '/x/agentd-init', options: {}, profile, requireKernel, logger: silentLogger });
}

const fails = (code: string, message: string | RegExp): unknown =>
  expect.objectContaining({ name: 'AgentdError', code, message: typeof message === 'string' ? message : expect.stringMatching(message) });

describe('DaemonBackends: the per-request profile guard', () => {
  test('a backend is refused until it was probed (fail closed)', async () => {
    const set = backends('workstation');
    expect(() => set.assertProfileAllows('workstation', set.get('host-direct'))).toThrow(
      fails('BACKEND_UNAVAILABLE', "backend 'host-direct' was not probed; it cannot be used until it is"),
    );
    await set.probeAll();
    expect(() => set.assertProfileAllows('workstation', set.get('host-direct'))).not.toThrow();
  });

  test.each([
    ['server', 'workstation', 'server'],
    ['workstation', 'paranoid', 'paranoid'],
  ] as const)('daemon profile %s, request profile %s: the stricter one (%s) refuses a soft backend', async (daemon, request, stricter) => {
    const set = backends(daemon);
    await set.probeAll();
    expect(() => set.assertProfileAllows(request, set.get('host-direct'))).toThrow(
      fails('ISOLATION_REQUIRED', new RegExp(`^profile '${stricter}' requires kernel isolation, but backend 'host-direct' provides none`)),
    );
  });

  test("the daemon's require_kernel applies under a profile that does not force it", async () => {
    const set = backends('custom', true);
    await set.probeAll();
    expect(() => set.assertProfileAllows('workstation', set.get('host-direct'))).toThrow(
      fails('ISOLATION_REQUIRED', /^profile 'custom' with isolation.require_kernel = true requires kernel isolation/),
    );
  });

  test('an unavailable backend is refused under any profile, named by its canonical name', async () => {
    const set = backends('workstation');
    await set.probeAll();
    expect(() => set.assertProfileAllows('workstation', set.get('bwrap'))).toThrow(
      fails('BACKEND_UNAVAILABLE', "backend 'namespace' is not available on this host (namespace missing here); see 'agentd doctor'"),
    );
  });

  test('one instance per backend, whatever name or alias asks for it', () => {
    const set = backends('workstation');
    expect(set.get('bwrap')).toBe(set.get('namespace'));
  });
});
