import { AgentdError, toAgentdError } from '../core/errors.js';
import { unavailableProbe } from './probe-util.js';
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
  const make = (name: string): IsolationBackend => registry.create(name, { ...base, options: { ...(isolation.backends[name] ?? {}) } });
  let selected: { requested: string; name: string; backend: IsolationBackend; probe: BackendProbe };
  if (isolation.backend === 'auto') {
    // Every implemented backend is created and probed once; the best one is kept with its probe.
    const candidates = await Promise.all(
      registry.list().filter((b) => b.implemented).map(async (b) => {
        try {
          const backend = make(b.name);
          return { name: b.name, backend, probe: await backend.probe() };
        } catch (err) {
          return { name: b.name, backend: undefined, probe: unavailableProbe(b.name, b.isolation ?? 'none', `probe failed: ${toAgentdError(err).message}`) };
        }
      }),
    );
    signal?.throwIfAborted();
    const best = registry.detectBest(candidates.map((c) => c.probe), { requireKernel, profile });
    const chosen = candidates.find((c) => c.name === best);
    if (chosen?.backend === undefined) throw new AgentdError('INTERNAL', `backend '${best}' was chosen but could not be created`);
    selected = { requested: best, name: best, backend: chosen.backend, probe: chosen.probe };
  } else {
    const name = registry.resolve(isolation.backend);
    const backend = make(name);
    signal?.throwIfAborted();
    selected = { requested: isolation.backend, name, backend, probe: await backend.probe() };
  }
  const { requested, name, backend, probe } = selected;
  registry.assertProfileAllows(profile, requested, probe, { requireKernel });
  if (probe.isolation === 'none') {
    ctx.logger.warn({ backend: name, profile }, `isolation backend '${name}' provides NO isolation: sandboxed commands run directly on this host with the daemon's user`);
  }
  return { name, backend, probe };
}
