import { z } from 'zod';
import { canSeeAllTenants, requireRole } from '../../../auth/tenancy.js';
import { ROLE_ADMIN } from '../../../auth/types.js';
import { AgentdError } from '../../../core/errors.js';
import { audited } from '../audit-action.js';
import { QueryInt, route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';
import { ApiKeyShape, AuditEventShape } from '../shapes.js';
import { apiKeyView, auditView } from '../views.js';

const AuditQuery = z
  .object({
    limit: QueryInt.optional().describe('Most events (default 100, at most 1000).'),
    since_ms: QueryInt.optional().describe('Only events at or after this time.'),
  })
  .strict();

const Name = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:@-]+$/, 'letters, digits, _ . : @ -');
const KeyCreate = z
  .object({
    subject: Name.describe('Who the key authenticates as.'),
    tenant: Name.describe('Tenant of the key.'),
    roles: z.array(Name).max(32).default(['user']).describe('Roles (admin may manage keys and read every audit event).'),
  })
  .strict();

export function adminRoutes(svc: HttpServices): RouteSpec[] {
  return [
    route<z.infer<typeof AuditQuery>>({
      method: 'GET', url: '/v1/audit', operationId: 'listAudit', summary: "Audit events (your tenant's; admins see all).", tag: 'audit', auth: true,
      query: AuditQuery, responses: { 200: { description: 'Events, newest first', schema: z.object({ events: z.array(AuditEventShape) }) } },
      handler: async ({ principal, query }) => {
        const events = svc.store.audit.query({
          ...(canSeeAllTenants(principal) ? {} : { tenant: principal.tenant }),
          ...(query.limit === undefined ? {} : { limit: query.limit }),
          ...(query.since_ms === undefined ? {} : { sinceMs: query.since_ms }),
        });
        return { events: events.map(auditView) };
      },
    }),
    route<unknown, z.infer<typeof KeyCreate>>({
      method: 'POST', url: '/v1/keys', operationId: 'createKey', summary: 'Create an API key (admin); the secret is shown once.', tag: 'keys', auth: true,
      body: KeyCreate,
      responses: { 201: { description: 'The key, with its secret', schema: ApiKeyShape.extend({ key: z.string() }) } },
      handler: async ({ principal, body, reply }) => {
        requireRole(principal, ROLE_ADMIN, 'creating API keys');
        const created = await audited(svc, principal, 'keys.create', null, () => svc.apiKeys.create(body));
        void reply.code(201);
        return { ...apiKeyView(created.info), key: created.key };
      },
    }),
    route({
      method: 'GET', url: '/v1/keys', operationId: 'listKeys', summary: 'List API keys (admin).', tag: 'keys', auth: true,
      responses: { 200: { description: 'Keys (no secrets)', schema: z.object({ keys: z.array(ApiKeyShape) }) } },
      handler: async ({ principal }) => {
        requireRole(principal, ROLE_ADMIN, 'listing API keys');
        return { keys: svc.apiKeys.list({ includeRevoked: true }).map(apiKeyView) };
      },
    }),
    route({
      method: 'DELETE', url: '/v1/keys/:id', operationId: 'revokeKey', summary: 'Revoke an API key (admin).', tag: 'keys', auth: true,
      responses: { 204: { description: 'Revoked' } },
      handler: async ({ principal, params, reply }) => {
        requireRole(principal, ROLE_ADMIN, 'revoking API keys');
        const id = params.id ?? '';
        await audited(svc, principal, 'keys.revoke', null, () => {
          if (!svc.apiKeys.revoke(id)) throw new AgentdError('NOT_FOUND', `no active API key '${id}'`, { details: { key_id: id } });
        });
        void reply.code(204);
        return undefined;
      },
    }),
  ];
}
