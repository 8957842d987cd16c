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

/** What to choose among probed backends. */
export interface BackendRequest {
  profile: ProfileName;
  /** A name, an alias, or "auto". The guard's messages name it as given here. */
  backend: string;
  /** Demand kernel isolation even where the profile does not (config isolation.require_kernel). */
  requireKernel: boolean;
}

/**
 * The profile guard for one backend (see profile-guard.ts), failing closed when there is
 * no probe for it: a backend nobody probed has shown nothing it enforces.
 */
export function assertProbedBackendAllowed(
  registry: BackendRegistry, profile: ProfileName, requested: string, probe: BackendProbe | undefined, opts: { requireKernel: boolean },
): asserts probe is BackendProbe {
  if (!probe) throw new AgentdError('BACKEND_UNAVAILABLE', `backend '${requested}' was not probed; it cannot be used until it is`);
  registry.assertProfileAllows(profile, requested, probe, opts);
}

/**
 * Ranks and guards: "auto" takes the best of `probes` the profile allows (detect.ts:
 * ISOLATION_REQUIRED or BACKEND_UNAVAILABLE when none qualifies); a name or alias is
 * resolved (UNKNOWN_BACKEND, BACKEND_UNAVAILABLE for reserved names). `open` then gives
 * the caller's instance of the chosen backend, and the profile guard refuses it if the
 * profile does not allow it (ISOLATION_REQUIRED naming profile and backend) or it is not
 * available here or not among `probes` (BACKEND_UNAVAILABLE).
 */
export function chooseBackend<B>(
  registry: BackendRegistry, request: BackendRequest, probes: readonly BackendProbe[], open: (name: string) => B,
): { name: string; backend: B; probe: BackendProbe } {
  const { profile, requireKernel } = request;
  const auto = request.backend === 'auto';
  const name = auto ? registry.detectBest(probes, { requireKernel, profile }) : registry.resolve(request.backend);
  const backend = open(name);
  const probe = probes.find((p) => p.backend === name);
  assertProbedBackendAllowed(registry, profile, auto ? name : request.backend, probe, { requireKernel });
  return { name, backend, probe };
}

/**
 * Picks, creates and checks the backend the config asks for: "auto" probes every backend
 * and takes the best one the profile allows; a name or alias is resolved, created with its
 * options and probed alone. Either way chooseBackend() ranks and applies the profile guard.
 * A backend without isolation is accepted where allowed, with a warning in the log.
 */
export async function selectBackend(registry: BackendRegistry, config: BackendChoice, ctx: ProbeContext): Promise<SelectedBackend> {
  const { profile, isolation } = config;
  const { signal, options: _ignored, ...base } = ctx;
  const make = (name: string): IsolationBackend => registry.create(name, { ...base, options: { ...(isolation.backends[name] ?? {}) } });
  let candidates: Array<{ name: string; backend: IsolationBackend | undefined; probe: BackendProbe }>;
  if (isolation.backend === 'auto') {
    // Every implemented backend is created and probed once; the best one is kept with its probe.
    candidates = await Promise.all(
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
  } else {
    const name = registry.resolve(isolation.backend);
    const backend = make(name);
    signal?.throwIfAborted();
    candidates = [{ name, backend, probe: await backend.probe() }];
  }
  const request = { profile, backend: isolation.backend, requireKernel: isolation.require_kernel };
  const selected = chooseBackend(registry, request, candidates.map((c) => c.probe), (name) => {
    const backend = candidates.find((c) => c.name === name)?.backend;
    if (backend === undefined) throw new AgentdError('INTERNAL', `backend '${name}' was chosen but could not be created`);
    return backend;
  });
  if (selected.probe.isolation === 'none') {
    ctx.logger.warn({ backend: selected.name, profile }, `isolation backend '${selected.name}' provides NO isolation: sandboxed commands run directly on this host with the daemon's user`);
  }
  return selected;
}
