import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { AgentdError } from '../../src/core/errors.js';
import { BackendRegistry } from '../../src/isolation/registry.js';
import { InvalidConfigError, parseConfig } from '../../src/config/index.js';
import { detectBest } from '../../src/isolation/detect.js';
import { assertProfileAllows } from '../../src/isolation/profile-guard.js';
import { unavailableProbe } from '../../src/isolation/probe-util.js';
import type { BackendFactory, BackendFactoryContext, BackendProbe, IsolationBackend, IsolationLevel } from '../../src/isolation/types.js';
import { silentLogger } from '../../src/util/logger.js';

const ctx: BackendFactoryContext = { initPath: '/nonexistent/agentd-init', options: {}, logger: silentLogger };

function availableProbe(backend: string, isolation: IsolationLevel): BackendProbe {
  const on = { ok: true };
  return {
    backend,
    available: true,
    isolation,
    features: { filesystem: on, network: on, pidNamespace: on, seccomp: on, memoryLimit: on, pidsLimit: on, cpuLimit: on, suspend: on },
  };
}

/** A backend whose probe reports what the test says; it cannot start sandboxes. */
function fakeFactory(name: string, isolation: IsolationLevel, probe?: () => Promise<BackendProbe>, seen?: BackendFactoryContext[]): BackendFactory {
  return (c) => {
    seen?.push(c);
    const backend: IsolationBackend = {
      name,
      isolation,
      probe: probe ?? (async () => availableProbe(name, isolation)),
      start: async () => {
        throw new AgentdError('INTERNAL', 'fake backend cannot start');
      },
    };
    return backend;
  };
}

/** Like createBuiltinRegistry(): the implemented built-in names registered (fake factories), the rest reserved. */
function builtins(): BackendRegistry {
  return new BackendRegistry()
    .register('host-direct', fakeFactory('host-direct', 'none'))
    .register('namespace', fakeFactory('namespace', 'kernel'))
    .register('linux-native', fakeFactory('linux-native', 'kernel'))
    .register('podman', fakeFactory('podman', 'kernel'));
}

function thrown(fn: () => unknown): AgentdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentdError) return err;
    throw err;
  }
  throw new Error('expected an AgentdError, nothing was thrown');
}

describe('name and alias resolution', () => {
  test.each([
    ['host-direct', 'host-direct'],
    ['none', 'host-direct'],
    ['host', 'host-direct'],
    ['workstation', 'host-direct'],
    ['namespace', 'namespace'],
    ['bwrap', 'namespace'],
    ['container', 'namespace'],
    ['BWRAP', 'namespace'],
  ])('%s resolves to %s', (input, canonical) => {
    expect(builtins().resolve(input)).toBe(canonical);
  });

  test('an unknown name is UNKNOWN_BACKEND and the message lists every known name and alias', () => {
    const err = thrown(() => builtins().resolve('bwarp'));
    expect(err.code).toBe('UNKNOWN_BACKEND');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toContain("unknown isolation backend 'bwarp'");
    for (const name of ['host-direct', 'none', 'host', 'workstation', 'namespace', 'bwrap', 'container', 'linux-native', 'landlock', 'podman', 'docker', 'firecracker', 'microvm']) {
      expect(err.message).toContain(name);
    }
    expect(err.details.known).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'namespace', aliases: ['bwrap', 'container'], implemented: true })]));
  });

  test.each([
    ['firecracker', 'firecracker'],
    ['microvm', 'firecracker'],
  ])('reserved %s is BACKEND_UNAVAILABLE "not implemented yet" (as %s)', (input, canonical) => {
    const err = thrown(() => builtins().resolve(input));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(err.message).toContain(`'${canonical}'`);
    expect(err.message).toContain('not implemented yet');
    expect(err.message).toContain("use 'host-direct' or 'namespace'");
    expect(builtins().has(input)).toBe(false);
  });

  test('list() reports implemented backends first, reserved ones after, with aliases', () => {
    const list = builtins().list();
    expect(list.slice(0, 4)).toEqual([
      { name: 'host-direct', aliases: ['none', 'host', 'workstation'], implemented: true, isolation: 'none' },
      { name: 'namespace', aliases: ['bwrap', 'container'], implemented: true, isolation: 'kernel' },
      { name: 'linux-native', aliases: ['landlock'], implemented: true, isolation: 'kernel' },
      { name: 'podman', aliases: ['docker'], implemented: true, isolation: 'kernel' },
    ]);
    expect(list.slice(4).map((b) => b.name).sort()).toEqual(['firecracker']);
    expect(list.slice(4).every((b) => !b.implemented)).toBe(true);
  });

  test('registries are independent objects (no shared module state)', () => {
    const a = new BackendRegistry().register('mine', fakeFactory('mine', 'kernel'));
    const b = new BackendRegistry();
    expect(a.resolve('mine')).toBe('mine');
    expect(thrown(() => b.resolve('mine')).code).toBe('UNKNOWN_BACKEND');
  });
});

describe('user-registered factories', () => {
  test('a user backend resolves by name and alias and create() calls its factory with the context', () => {
    const seen: BackendFactoryContext[] = [];
    const reg = builtins().register('my-vm', fakeFactory('my-vm', 'kernel', undefined, seen), { aliases: ['vm'] });
    expect(reg.resolve('vm')).toBe('my-vm');
    const backend = reg.create('vm', { ...ctx, options: { cpus: 2 } });
    expect(backend.name).toBe('my-vm');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.options).toEqual({ cpus: 2 });
  });

  test('a reserved name can be implemented by the user and keeps its built-in aliases', () => {
    const reg = builtins().register('firecracker', fakeFactory('firecracker', 'kernel'));
    expect(reg.resolve('microvm')).toBe('firecracker');
    expect(reg.create('microvm', ctx).name).toBe('firecracker');
  });

  test('a user backend may take over an alias of a reserved name', () => {
    const reg = builtins().register('my-vm', fakeFactory('my-vm', 'kernel'), { aliases: ['microvm'] });
    expect(reg.resolve('microvm')).toBe('my-vm');
    expect(thrown(() => reg.resolve('firecracker')).message).toContain('not implemented yet');
  });

  test('names already taken by an implemented backend are refused', () => {
    const reg = builtins();
    expect(thrown(() => reg.register('namespace', fakeFactory('namespace', 'kernel'))).code).toBe('ALREADY_EXISTS');
    expect(thrown(() => reg.register('other', fakeFactory('other', 'kernel'), { aliases: ['bwrap'] })).message).toContain("already taken by backend 'namespace'");
    expect(thrown(() => reg.register('bwrap', fakeFactory('bwrap', 'kernel'))).message).toContain("alias of the built-in backend 'namespace'");
    expect(thrown(() => reg.register('Bad Name!', fakeFactory('x', 'kernel'))).code).toBe('INVALID_ARGUMENT');
    expect(reg.resolve('bwrap')).toBe('namespace');
  });
});

describe('probeAll and detectBest', () => {
  test('probeAll reports every backend; a throwing probe becomes an unavailable probe with the reason', async () => {
    const reg = new BackendRegistry()
      .register('host-direct', fakeFactory('host-direct', 'none'))
      .register('namespace', fakeFactory('namespace', 'kernel', async () => {
        throw new Error('bwrap not found on PATH');
      }));
    const probes = await reg.probeAll({ initPath: ctx.initPath, logger: silentLogger });
    const byName = new Map(probes.map((p) => [p.backend, p]));
    expect(byName.get('host-direct')?.available).toBe(true);
    expect(byName.get('namespace')).toMatchObject({ available: false, isolation: 'kernel' });
    expect(byName.get('namespace')?.reason).toContain('bwrap not found on PATH');
    expect(byName.get('firecracker')).toMatchObject({ available: false, reason: 'not implemented yet' });
    // Every name the registry knows, implemented or reserved, has a probe.
    expect(probes.map((p) => p.backend).sort()).toEqual(reg.list().map((b) => b.name).sort());
    expect(reg.detectBest(probes)).toBe('host-direct');
  });

  test('probeAll hands each backend its own options', async () => {
    const seen: BackendFactoryContext[] = [];
    const reg = new BackendRegistry()
      .register('host-direct', fakeFactory('host-direct', 'none', undefined, seen))
      .register('namespace', fakeFactory('namespace', 'kernel', undefined, seen));
    await reg.probeAll({ initPath: ctx.initPath, logger: silentLogger, options: { namespace: { seccomp: false } } });
    expect(seen.map((c) => c.options)).toEqual([{}, { seccomp: false }]);
  });

  test('probeAll honours an aborted signal', async () => {
    await expect(builtins().probeAll({ initPath: ctx.initPath, logger: silentLogger, signal: AbortSignal.abort() })).rejects.toThrow();
  });

  test('kernel isolation that works beats host-direct; order of the probes does not matter', () => {
    const probes = [availableProbe('host-direct', 'none'), availableProbe('namespace', 'kernel'), unavailableProbe('gvisor', 'kernel', 'not implemented yet')];
    expect(detectBest(probes)).toBe('namespace');
    expect(detectBest([...probes].reverse())).toBe('namespace');
  });

  test('an unavailable kernel backend is skipped', () => {
    expect(detectBest([unavailableProbe('namespace', 'kernel', 'no user namespaces'), availableProbe('host-direct', 'none')])).toBe('host-direct');
  });

  test('built-in kernel backends rank before user kernel backends, which rank before host-direct', () => {
    expect(detectBest([availableProbe('my-vm', 'kernel'), availableProbe('namespace', 'kernel')])).toBe('namespace');
    expect(detectBest([availableProbe('host-direct', 'none'), availableProbe('my-vm', 'kernel')])).toBe('my-vm');
  });

  test('requireKernel with only host-direct available is ISOLATION_REQUIRED naming the profile and the reasons', () => {
    const err = thrown(() => detectBest([availableProbe('host-direct', 'none'), unavailableProbe('namespace', 'kernel', 'bwrap not found')], { requireKernel: true, profile: 'server' }));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toContain("profile 'server' requires kernel isolation");
    expect(err.message).toContain('namespace: bwrap not found');
  });

  test('nothing available at all is BACKEND_UNAVAILABLE', () => {
    expect(thrown(() => detectBest([unavailableProbe('namespace', 'kernel', 'x')])).code).toBe('BACKEND_UNAVAILABLE');
  });
});

describe('profile refuses soft isolation', () => {
  const reg = builtins();
  const soft = availableProbe('host-direct', 'none');
  const kernel = availableProbe('namespace', 'kernel');

  test.each(['server', 'paranoid'] as const)('%s refuses host-direct with ISOLATION_REQUIRED naming profile, backend and the way out', (profile) => {
    const err = thrown(() => reg.assertProfileAllows(profile, 'host-direct', soft));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toBe(`profile '${profile}' requires kernel isolation, but backend 'host-direct' provides none; use backend 'namespace' (bwrap) or profile 'workstation'`);
    expect(err.details).toMatchObject({ profile, backend: 'host-direct', isolation: 'none' });
  });

  test('the message names the alias the user asked for too', () => {
    const err = thrown(() => reg.assertProfileAllows('server', 'none', soft));
    expect(err.message).toContain("backend 'none' (host-direct) provides none");
  });

  test.each(['server', 'paranoid'] as const)('%s refuses an unavailable kernel backend and says why', (profile) => {
    const err = thrown(() => reg.assertProfileAllows(profile, 'namespace', unavailableProbe('namespace', 'kernel', 'user namespaces are disabled')));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toContain(`profile '${profile}' requires kernel isolation, but backend 'namespace' is not available on this host (user namespaces are disabled)`);
  });

  test.each(['server', 'paranoid', 'workstation', 'custom'] as const)('%s accepts an available kernel backend', (profile) => {
    expect(() => reg.assertProfileAllows(profile, 'bwrap', kernel)).not.toThrow();
  });

  test.each(['workstation', 'custom'] as const)('%s accepts host-direct', (profile) => {
    expect(() => reg.assertProfileAllows(profile, 'host-direct', soft)).not.toThrow();
  });

  test('custom with require_kernel refuses host-direct', () => {
    const err = thrown(() => reg.assertProfileAllows('custom', 'host-direct', soft, { requireKernel: true }));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toContain("profile 'custom' with isolation.require_kernel = true requires kernel isolation");
  });

  test('workstation with an unavailable backend is BACKEND_UNAVAILABLE', () => {
    const err = thrown(() => reg.assertProfileAllows('workstation', 'namespace', unavailableProbe('namespace', 'kernel', 'bwrap not found')));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(err.message).toContain('bwrap not found');
  });

  test('without a registered kernel backend the hint stays generic', () => {
    const only = new BackendRegistry().register('host-direct', fakeFactory('host-direct', 'none'));
    expect(thrown(() => only.assertProfileAllows('server', 'host-direct', soft)).message).toContain('provides none; use a backend with kernel isolation or profile');
    expect(thrown(() => assertProfileAllows('paranoid', 'host-direct', soft)).code).toBe('ISOLATION_REQUIRED');
  });
});

describe('backend options', () => {
  const schema = z.object({ seccomp: z.boolean().optional(), host_uid: z.number().int().min(1).optional() }).strict();

  test('tables are checked against the schema given at registration, every problem listed', () => {
    const reg = new BackendRegistry().register('namespace', fakeFactory('namespace', 'kernel'), { optionsSchema: schema });
    expect(reg.checkOptions({ namespace: { seccomp: true } })).toEqual([]);
    expect(reg.checkOptions({ bwrap: { seccomp: 'yes', host_uid: 0, extra: 1 } })).toEqual([
      { path: 'isolation.backends.bwrap.seccomp', message: expect.stringContaining('expected boolean') },
      { path: 'isolation.backends.bwrap.host_uid', message: expect.stringContaining('>=1') },
      { path: 'isolation.backends.bwrap', message: 'unknown key(s): extra' },
    ]);
  });

  test('parseConfig lists option problems with every other issue when given the registry check', () => {
    const reg = new BackendRegistry().register('namespace', fakeFactory('namespace', 'kernel'), { optionsSchema: schema });
    let error: unknown;
    try {
      parseConfig({ isolation: { backends: { bwrap: { seccomp: 1 } } }, log: { level: 'loud' } }, { HOME: '/home/a' }, { uid: 1000, checkBackendOptions: reg.checkOptions.bind(reg) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).issues.map((i) => i.path)).toEqual(['isolation.backends.bwrap.seccomp', 'log.level']);
  });

  test('a table for an unknown backend is a problem; a reserved one may carry options', () => {
    const reg = builtins();
    expect(reg.checkOptions({ microvm: { vcpus: 2 } })).toEqual([]);
    const issues = reg.checkOptions({ bwarp: {} });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toContain("no backend is named 'bwarp'; known backends: host-direct");
  });
});
