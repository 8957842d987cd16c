import { isAdmin } from '../auth/tenancy.js';
import type { Principal } from '../auth/types.js';
import { AgentdError } from '../core/errors.js';
import type { SandboxSpec } from '../isolation/types.js';
import type { Grantee } from './grants.js';
import type { SandboxCreate } from './spec.js';

/** The request fields that name host paths. `deny_paths` is not one: it only hides more, anyone may send it. */
export const HOST_PATH_FIELDS = ['allowed_paths_ro', 'allowed_paths_rw', 'bind_mounts'] as const;

/**
 * Host paths in a request come from an admin only (POLICY_DENIED otherwise, before any path is
 * looked at, so a non-admin learns nothing about the host's files). Where the paths may lie is
 * checked when the sandbox starts (isolation/host-paths.ts), for admins and the config alike.
 */
export function assertHostPathGrant(req: SandboxCreate, caller: Grantee): void {
  const given = HOST_PATH_FIELDS.filter((k) => (req[k]?.length ?? 0) > 0);
  if (given.length === 0 || caller.admin) return;
  throw new AgentdError(
    'POLICY_DENIED',
    `${given.join(', ')}: host paths in a request are accepted from an admin-role caller only; ask the operator to add them to the config (sandbox.allowed_paths_ro/rw under sandbox.host_path_roots), or send deny_paths, which anyone may`,
    { details: { rule: 'host_paths_admin_only', fields: [...given] } },
  );
}

/**
 * Providers that identify the host's own user: the local token (only the daemon's user and
 * root can read `<home>/agentd.token`), the Unix socket's peer credentials and allow-all (an
 * owner-only socket). An admin through one of these is the host user at the keyboard (or root):
 * it may already do anything the daemon can, so its bind mounts may also lie under
 * `sandbox.local_mount_roots` (default /home and /root), which is what makes
 * `agentd sandbox create --mount-cwd` work on a checkout without configuring host_path_roots.
 * API keys, JWTs and signatures (remote callers) never count as local.
 */
const LOCAL_PROVIDERS = new Set(['local-token', 'peer-creds', 'allow-all']);

export function isLocalCaller(principal: Principal): boolean {
  return LOCAL_PROVIDERS.has(principal.provider) && isAdmin(principal);
}

/** The spec with its bind mounts marked `local` when a local caller made it (checked against local_mount_roots too at every start). */
export function withLocalGrant(spec: SandboxSpec, caller: Grantee): SandboxSpec {
  if (caller.local !== true || !caller.admin || spec.bindMounts.length === 0) return spec;
  return { ...spec, bindMounts: spec.bindMounts.map((b) => ({ ...b, local: true })) };
}
