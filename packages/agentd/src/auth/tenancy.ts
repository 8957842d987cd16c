import { AgentdError } from '../core/errors.js';
import { ROLE_ADMIN, ROLE_VIEWER, type Principal } from './types.js';

/**
 * Tenancy rules (one place):
 * - Sandboxes, sessions, snapshots and idempotency keys are scoped to the principal's
 *   tenant for everyone, admins included: another tenant's resource answers 404 NOT_FOUND
 *   (never 403, so ids of other tenants cannot be probed).
 * - The `admin` role may in addition manage API keys (create for any tenant, list, revoke)
 *   and read the audit log of every tenant (`canSeeAllTenants`). Non-admins read only
 *   their own tenant's audit events and cannot touch keys (403 PERMISSION_DENIED: the
 *   route exists for them, the action is not theirs).
 */
export function assertSameTenant(principal: Principal, resourceTenant: string | undefined, what = 'resource', id?: string): void {
  if (resourceTenant === undefined || resourceTenant !== principal.tenant) {
    throw new AgentdError('NOT_FOUND', `${what}${id === undefined ? '' : ` ${id}`} not found`, {
      details: id === undefined ? {} : { id },
    });
  }
}

export function hasRole(principal: Principal, role: string): boolean {
  return principal.roles.includes(role);
}

export function isAdmin(principal: Principal): boolean {
  return hasRole(principal, ROLE_ADMIN);
}

/**
 * A `viewer` (and not an admin) may only read: every operation and intent that writes is
 * refused with PERMISSION_DENIED by the gate (pipeline/gate.ts decide), whatever the policy says.
 */
export function isReadOnly(principal: Principal): boolean {
  return hasRole(principal, ROLE_VIEWER) && !isAdmin(principal);
}

/** Throws PERMISSION_DENIED unless the principal has `role`. */
export function requireRole(principal: Principal, role: string, action = 'this action'): void {
  if (!hasRole(principal, role)) {
    throw new AgentdError('PERMISSION_DENIED', `${action} requires the '${role}' role`, { details: { role } });
  }
}

/** Whether the principal may read every tenant's audit events (admins only). */
export function canSeeAllTenants(principal: Principal): boolean {
  return isAdmin(principal);
}
