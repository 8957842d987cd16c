import type { BackendRegistry, ProbeContext } from './registry.js';
import type { BackendProbe, IsolationBackend, ProfileName } from './types.js';

/** The parts of the config (config/schema.ts) that choose a backend. */
export interface BackendChoice {
  profile: ProfileName;
  isolation: {
    /** A name, an alias, or "auto". */
    backend: string;
    require_kernel: boolean;
    backends: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  };
}

export interface SelectedBackend {
  /** Canonical name. */
  name: string;
  backend: IsolationBackend;
  /** What the backend enforces here, measured now. */
  probe: BackendProbe;
}

/**
 * Picks, creates and checks the backend the config asks for: "auto" probes every backend
 * and takes the best one the profile allows; a name or alias is resolved (UNKNOWN_BACKEND,
 * BACKEND_UNAVAILABLE for reserved names), created with its options, probed, and refused
 * if the profile does not allow it (ISOLATION_REQUIRED naming profile and backend).
 * A backend without isolation is accepted where allowed, with a warning in the log.
 */
export async function selectBackend(registry: BackendRegistry, config: BackendChoice, ctx: ProbeContext): Promise<SelectedBackend> {
  const { profile, isolation } = config;
  const requireKernel = isolation.require_kernel;
  const { signal, options: _ignored, ...base } = ctx;
  let requested = isolation.backend;
  if (requested === 'auto') {
    const probes = await registry.probeAll({ ...base, options: isolation.backends, ...(signal === undefined ? {} : { signal }) });
    requested = registry.detectBest(probes, { requireKernel, profile });
  }
  const name = registry.resolve(requested);
  const backend = registry.create(name, { ...base, options: { ...(isolation.backends[name] ?? {}) } });
  signal?.throwIfAborted();
  const probe = await backend.probe();
  registry.assertProfileAllows(profile, requested, probe, { requireKernel });
  if (probe.isolation === 'none') {
    ctx.logger.warn({ backend: name, profile }, `isolation backend '${name}' provides NO isolation: sandboxed commands run directly on this host with the daemon's user`);
  }
  return { name, backend, probe };
}
