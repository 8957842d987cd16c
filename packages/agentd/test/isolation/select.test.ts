import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { parseConfig } from '../../src/config/index.js';
import { BackendRegistry } from '../../src/isolation/registry.js';
import { chooseBackend, selectBackend } from '../../src/isolation/select.js';
import { unavailableProbe } from '../../src/isolation/probe-util.js';
import type { BackendFactory, BackendFactoryContext, BackendProbe, IsolationLevel } from '../../src/isolation/types.js';

function probeOf(backend: string, isolation: IsolationLevel, available: boolean): BackendProbe {
  if (!available) return unavailableProbe(backend, isolation, `${backend} missing here`);
  const on = { ok: true };
  return { backend, available, isolation, features: { filesystem: on, network: on, pidNamespace: on, seccomp: on, memoryLimit: on, pidsLimit: on, cpuLimit: on, suspend: on } };
}

function fake(name: string, isolation: IsolationLevel, available: boolean, seen: BackendFactoryContext[]): BackendFactory {
  return (c) => {
    seen.push(c);
    return { name, isolation, probe: async () => probeOf(name, isolation, available), start: async () => { throw new AgentdError('INTERNAL', 'fake'); } };
  };
}

function setup(nsAvailable: boolean) {
  const seen: BackendFactoryContext[] = [];
  const warnings: string[] = [];
  const registry = new BackendRegistry()
    .register('host-direct', fake('host-direct', 'none', true, seen))
    .register('namespace', fake('namespace', 'kernel', nsAvailable, seen));
  const logger = { debug() {}, info() {}, error() {}, warn: (_o: object | string, m?: string) => void warnings.push(m ?? '') };
  return { registry, seen, warnings, ctx: { initPath: '/x/agentd-init', logger } };
}

const cfg = (obj: Record<string, unknown>) => parseConfig(obj, { HOME: '/home/alice' }, { uid: 1000 });

async function rejection(p: Promise<unknown>): Promise<AgentdError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof AgentdError)) throw new Error(`expected AgentdError, got ${String(err)}`);
  return err;
}

describe('selectBackend', () => {
  test('auto picks namespace when it works, with its options', async () => {
    const { registry, seen, ctx } = setup(true);
    const sel = await selectBackend(registry, cfg({ isolation: { backends: { bwrap: { seccomp: true } } } }), ctx);
    expect(sel.name).toBe('namespace');
    expect(sel.probe.isolation).toBe('kernel');
    expect(seen.at(-1)?.options).toEqual({ seccomp: true });
  });

  test('auto falls back to host-direct under workstation, with a loud warning', async () => {
    const { registry, warnings, ctx } = setup(false);
    const sel = await selectBackend(registry, cfg({}), ctx);
    expect(sel.name).toBe('host-direct');
    expect(warnings.join('\n')).toContain("'host-direct' provides NO isolation");
  });

  test('auto under server with no kernel backend available is ISOLATION_REQUIRED', async () => {
    const { registry, ctx } = setup(false);
    const err = await rejection(selectBackend(registry, cfg({ profile: 'server' }), ctx));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toContain("profile 'server' requires kernel isolation");
    expect(err.message).toContain('namespace missing here');
  });

  test('an alias is resolved and checked against the profile', async () => {
    const { registry, ctx } = setup(true);
    expect((await selectBackend(registry, cfg({ profile: 'paranoid', isolation: { backend: 'bwrap' } }), ctx)).name).toBe('namespace');
  });

  test('a named but unavailable kernel backend under server names profile, backend and reason', async () => {
    const { registry, ctx } = setup(false);
    const err = await rejection(selectBackend(registry, cfg({ profile: 'server', isolation: { backend: 'bwrap' } }), ctx));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toBe("profile 'server' requires kernel isolation, but backend 'bwrap' (namespace) is not available on this host (namespace missing here); fix that (see 'agentd doctor') or use profile 'workstation'");
  });

  test('an unknown user backend name is UNKNOWN_BACKEND at selection', async () => {
    const { registry, ctx } = setup(true);
    expect((await rejection(selectBackend(registry, cfg({ isolation: { backend: 'my-vm' } }), ctx))).code).toBe('UNKNOWN_BACKEND');
  });
});

describe('chooseBackend (ranking and guard shared by the daemon and the CLI)', () => {
  const registry = new BackendRegistry()
    .register('host-direct', fake('host-direct', 'none', true, []))
    .register('namespace', fake('namespace', 'kernel', true, []));
  const soft = probeOf('host-direct', 'none', true);
  const kernel = (available: boolean) => probeOf('namespace', 'kernel', available);
  const choose = (req: { profile?: 'workstation' | 'server' | 'paranoid'; backend: string; requireKernel?: boolean }, probes: BackendProbe[]) => {
    const opened: string[] = [];
    const run = () => chooseBackend(registry, { profile: req.profile ?? 'workstation', backend: req.backend, requireKernel: req.requireKernel ?? false }, probes, (n) => {
      opened.push(n);
      return `instance of ${n}`;
    });
    return { run, opened };
  };
  const thrown = (fn: () => unknown): AgentdError => {
    try {
      fn();
    } catch (err) {
      if (err instanceof AgentdError) return err;
      throw err;
    }
    throw new Error('expected an AgentdError');
  };

  test('auto ranks the given probes, opens only the winner and returns it with its probe', () => {
    const { run, opened } = choose({ backend: 'auto' }, [soft, kernel(true)]);
    expect(run()).toEqual({ name: 'namespace', backend: 'instance of namespace', probe: kernel(true) });
    expect(opened).toEqual(['namespace']);
  });

  test('auto under workstation falls back to the available soft backend', () => {
    expect(choose({ backend: 'auto' }, [soft, kernel(false)]).run().name).toBe('host-direct');
  });

  test('auto with require_kernel and no working kernel backend is ISOLATION_REQUIRED, and nothing is opened', () => {
    const { run, opened } = choose({ backend: 'auto', requireKernel: true }, [soft, kernel(false)]);
    const err = thrown(run);
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toContain('namespace: namespace missing here');
    expect(opened).toEqual([]);
  });

  test('an alias opens the canonical backend; the guard names the alias as requested', () => {
    const ok = choose({ profile: 'server', backend: 'bwrap' }, [soft, kernel(true)]);
    expect(ok.run().name).toBe('namespace');
    expect(ok.opened).toEqual(['namespace']);
    const err = thrown(choose({ profile: 'paranoid', backend: 'bwrap' }, [soft, kernel(false)]).run);
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toContain("backend 'bwrap' (namespace) is not available on this host (namespace missing here)");
  });

  test('a soft backend named under server is ISOLATION_REQUIRED; under workstation it is accepted', () => {
    const err = thrown(choose({ profile: 'server', backend: 'host-direct' }, [soft, kernel(true)]).run);
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.message).toBe("profile 'server' requires kernel isolation, but backend 'host-direct' provides none; use backend 'namespace' (bwrap) or profile 'workstation'");
    expect(choose({ backend: 'host-direct' }, [soft]).run().probe).toBe(soft);
  });

  test('a backend missing from the probes is refused (fail closed), after it was opened', () => {
    const { run, opened } = choose({ backend: 'namespace' }, [soft]);
    const err = thrown(run);
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(err.message).toBe("backend 'namespace' was not probed; it cannot be used until it is");
    expect(opened).toEqual(['namespace']);
  });

  test('an unknown name is UNKNOWN_BACKEND and a reserved one BACKEND_UNAVAILABLE, before anything is opened', () => {
    const unknown = choose({ backend: 'my-vm' }, [soft, kernel(true)]);
    expect(thrown(unknown.run).code).toBe('UNKNOWN_BACKEND');
    const reserved = choose({ backend: 'gvisor' }, [soft, kernel(true)]);
    expect(thrown(reserved.run).code).toBe('BACKEND_UNAVAILABLE');
    expect([...unknown.opened, ...reserved.opened]).toEqual([]);
  });
});
