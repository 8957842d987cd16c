import { AgentdError } from '../core/errors.js';
import { isolationRank, narrowerNetwork, networkRank, profileRank, PROFILE_STRICTNESS } from '../core/ranking.js';
import type { IsolationLevel, NetworkMode, ProfileName, SandboxLimits, SandboxSpec } from '../isolation/types.js';
import { minDefined } from '../util/numbers.js';
import type { ProfileDefaults } from './spec.js';

/**
 * What the daemon's config grants a new sandbox. A request may only tighten it:
 * - profile at least as strict as the daemon's (core/ranking.ts: workstation < custom < server < paranoid);
 * - network no wider than the config's `sandbox.network` (none < allowlist < host);
 * - each limit no higher than the config's `sandbox.limits` value (a configured limit is a
 *   ceiling and a request can never drop it; an absent one means any value may be asked);
 * - a TTL no longer than `sandbox.ttl_ms` (absent: any; a request can never drop it);
 * - a backend no weaker than the daemon's own (kernel isolation above host-direct), except
 *   host-direct when `isolation.allow_host_direct` is true, and then under a root daemon only
 *   for a caller with the admin role.
 * A refusal is POLICY_DENIED (PERMISSION_DENIED for the missing admin role) naming the field and
 * its ceiling.
 */
export interface Grants {
  /** The daemon's profile. */
  profile: ProfileName;
  /** The config's network (`sandbox.network`): the widest a sandbox may get. */
  network: NetworkMode;
  /** The config's limits (`sandbox.limits`, as the daemon's profile defaults carry them): ceilings. */
  limits: SandboxLimits;
  /** The config's TTL (`sandbox.ttl_ms`); undefined = no ceiling. */
  ttlMs?: number;
  /** The daemon's default backend (canonical) and its isolation level. */
  backend: string;
  backendIsolation: IsolationLevel;
  /** config `isolation.allow_host_direct`: a request may name a backend without isolation. */
  allowHostDirect: boolean;
  /** The daemon runs as root: host-direct commands would run as root on the host. */
  rootDaemon: boolean;
}

/** Who asks, as far as grants care. */
export interface Grantee {
  /** The caller has the admin role. */
  admin: boolean;
  /**
   * The caller is the host's own user (sandbox/host-path-grant.ts isLocalCaller): its bind
   * mounts may also lie under `sandbox.local_mount_roots`.
   */
  local?: boolean;
}

/** What a request asks for a new sandbox, after defaults were chosen (undefined = not asked). */
export interface GrantRequest {
  profile?: ProfileName;
  network?: NetworkMode;
  limits?: SandboxLimits;
  ttlMs?: number;
  /** Canonical backend name and its isolation, when the request names a backend. */
  backend?: { name: string; isolation: IsolationLevel };
}

/** Request field names (snake case, as the API has them) of the limits with a ceiling. */
const LIMIT_FIELDS: ReadonlyArray<[keyof SandboxLimits, string]> = [
  ['memoryBytes', 'memory_bytes'],
  ['pids', 'pids'],
  ['cpus', 'cpus'],
  ['openFiles', 'open_files'],
  ['diskBytes', 'disk_bytes'],
];

function denied(field: string, message: string, ceiling: unknown, asked: unknown): AgentdError {
  return new AgentdError('POLICY_DENIED', message, { details: { rule: 'grants', field, ceiling, asked } });
}

/** Throws unless every field the request asks is within what the config grants the caller. */
export function assertWithinGrants(g: Grants, req: GrantRequest, who: Grantee): void {
  if (req.profile !== undefined && profileRank(req.profile) < profileRank(g.profile)) {
    throw denied('profile', `profile '${req.profile}' is weaker than this daemon's profile '${g.profile}' (a request may only ask for a profile at least as strict: ${PROFILE_STRICTNESS.join(' < ')})`, g.profile, req.profile);
  }
  if (req.network !== undefined && networkRank(req.network) > networkRank(g.network)) {
    throw denied('network', `network '${req.network}' is wider than this daemon grants: sandbox.network = '${g.network}' is the widest a request may ask`, g.network, req.network);
  }
  for (const [key, field] of LIMIT_FIELDS) {
    const ceiling = g.limits[key];
    const asked = req.limits?.[key];
    if (ceiling !== undefined && asked !== undefined && asked > ceiling) {
      throw denied(`limits.${field}`, `limits.${field} ${asked} is above this daemon's ceiling ${ceiling} (sandbox.limits.${field}); ask for ${ceiling} or less`, ceiling, asked);
    }
  }
  if (g.ttlMs !== undefined && req.ttlMs !== undefined && req.ttlMs > g.ttlMs) {
    throw denied('ttl_ms', `ttl_ms ${req.ttlMs} is longer than this daemon's ceiling ${g.ttlMs} (sandbox.ttl_ms); ask for ${g.ttlMs} or less`, g.ttlMs, req.ttlMs);
  }
  if (req.backend !== undefined) assertBackendGranted(g, req.backend.name, req.backend.isolation, who);
}

/** A named backend: the daemon's own, or one at least as isolated, or host-direct where the config and the role allow it. */
export function assertBackendGranted(g: Grants, name: string, isolation: IsolationLevel, who: Grantee): void {
  if (name === g.backend) return;
  if (isolation === 'none') {
    if (!g.allowHostDirect) {
      throw denied('backend', `backend '${name}' runs commands on the host without isolation and this daemon does not let a request choose it (isolation.allow_host_direct = false; its default backend is '${g.backend}')`, g.backend, name);
    }
    if (g.rootDaemon && !who.admin) {
      throw new AgentdError('PERMISSION_DENIED', `backend '${name}' would run commands as root on the host (the daemon runs as root): choosing it requires the 'admin' role`, {
        details: { rule: 'grants', field: 'backend', role: 'admin', asked: name },
      });
    }
    return;
  }
  if (isolationRank(isolation) < isolationRank(g.backendIsolation)) {
    throw denied('backend', `backend '${name}' isolates less than this daemon's backend '${g.backend}' (${isolation} < ${g.backendIsolation})`, g.backend, name);
  }
}

/**
 * The defaults of a (stricter) requested profile, never looser than the config: network no
 * wider, each configured limit as a ceiling (a limit the profile lacks is added), TTL no longer.
 */
export function clampDefaults(g: Grants, d: ProfileDefaults): ProfileDefaults {
  const limits: SandboxLimits = { ...d.limits };
  for (const [key] of LIMIT_FIELDS) {
    const value = minDefined(d.limits[key], g.limits[key]);
    if (value === undefined) delete limits[key];
    else limits[key] = value;
  }
  const ttlMs = minDefined(d.ttlMs, g.ttlMs);
  const { ttlMs: _drop, ...rest } = d;
  return { ...rest, network: narrowerNetwork(d.network, g.network), limits, ...(ttlMs === undefined ? {} : { ttlMs }) };
}

/** A stored spec (fork, start) checked against today's grants: a sandbox made under a looser config is not copied past it. */
export function assertSpecWithinGrants(g: Grants, spec: SandboxSpec, backend: { name: string; isolation: IsolationLevel }, who: Grantee): void {
  assertWithinGrants(g, { profile: spec.profile, network: spec.network, limits: spec.limits, backend }, who);
  for (const [key, field] of LIMIT_FIELDS) {
    if (g.limits[key] !== undefined && spec.limits[key] === undefined) {
      throw denied(`limits.${field}`, `the sandbox has no ${field} limit but this daemon's config sets one (sandbox.limits.${field} = ${g.limits[key]})`, g.limits[key], null);
    }
  }
}
