import { AgentdError } from '../../src/core/errors.js';
import { unavailableProbe } from '../../src/isolation/probe-util.js';
import { BackendRegistry } from '../../src/isolation/registry.js';
import type { BackendFactory, BackendFactoryContext, BackendProbe, IsolationLevel } from '../../src/isolation/types.js';

/** A probe with every feature on, or (unavailable) off with the reason "<backend> missing here". */
export function probeOf(backend: string, isolation: IsolationLevel, available: boolean): BackendProbe {
  if (!available) return unavailableProbe(backend, isolation, `${backend} missing here`);
  const on = { ok: true };
  return { backend, available, isolation, features: { filesystem: on, network: on, pidNamespace: on, seccomp: on, memoryLimit: on, pidsLimit: on, cpuLimit: on, suspend: on } };
}

/** A backend that only probes (starting a sandbox fails); each creation's context is pushed to `seen`. */
export function fakeBackend(name: string, isolation: IsolationLevel, available: boolean, seen: BackendFactoryContext[] = []): BackendFactory {
  return (c) => {
    seen.push(c);
    return { name, isolation, probe: async () => probeOf(name, isolation, available), start: async () => { throw new AgentdError('INTERNAL', 'fake backend'); } };
  };
}

/** The two built-in names with probe-only fakes: host-direct (no isolation) always works, namespace (kernel) as told. */
export function fakeBuiltins(namespaceAvailable: boolean, seen: BackendFactoryContext[] = []): BackendRegistry {
  return new BackendRegistry()
    .register('host-direct', fakeBackend('host-direct', 'none', true, seen))
    .register('namespace', fakeBackend('namespace', 'kernel', namespaceAvailable, seen));
}
