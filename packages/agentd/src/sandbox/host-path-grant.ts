import { AgentdError } from '../core/errors.js';
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
