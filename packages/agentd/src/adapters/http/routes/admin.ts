import { z } from 'zod';
import { SigningKeyService } from '../../../auth/signing-keys.js';
import { E2bKeys } from '../../e2b/keys.js';
import { canSeeAllTenants, requireRole } from '../../../auth/tenancy.js';
import { ROLE_ADMIN } from '../../../auth/types.js';
import { AgentdError } from '../../../core/errors.js';
import { QueryInt, route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';
import { ApiKeyShape, AuditEventShape, SigningKeyShape } from '../shapes.js';
import { apiKeyView, auditView, signingKeyView } from '../views.js';

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

/** `kind: 'e2b'` makes an E2B API key (`e2b_` + hex) for the E2B API (adapters/e2b/keys.ts). */
const KeyCreateBody = KeyCreate.extend({
  kind: z.enum(['agentd', 'e2b']).optional().describe("'e2b': a key in the E2B SDK's format (e2b_ + hex), accepted only by the E2B API under /e2b (docs/e2b.md). Default 'agentd'."),
}).strict();

const SigningKeyRegister = KeyCreate.extend({
  public_key: z.string().min(1).max(4096)
    .describe('The Ed25519 public key: PEM (SPKI, "-----BEGIN PUBLIC KEY-----") or the raw 32 bytes in base64/base64url. Only the public half: the private key stays with the client.'),
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, '1-128 letters, digits, _ . : - (starting with a letter or digit)').optional()
    .describe('Key id the client sends in X-Agentd-Key-Id. Absent: the daemon picks one (sk_<16 hex>).'),
}).strict();

export function adminRoutes(svc: HttpServices): RouteSpec[] {
  return [...apiKeyRoutes(svc), ...signingKeyRoutes(svc)];
}

function apiKeyRoutes(svc: HttpServices): RouteSpec[] {
  return [
    route<z.infer<typeof AuditQuery>>({
      method: 'GET', url: '/v1/audit', operationId: 'listAudit', summary: "Audit events (your tenant's; admins see all).", tag: 'audit', auth: true,
      query: AuditQuery, responses: { 200: { description: 'Events, newest first', schema: z.object({ events: z.array(AuditEventShape) }) } },
      handler: ({ principal, query }) => svc.pipeline.gate.run(principal, { name: 'audit.list', input: query, run: () => {
        const events = svc.store.audit.query({
          ...(canSeeAllTenants(principal) ? {} : { tenant: principal.tenant }),
          ...(query.limit === undefined ? {} : { limit: query.limit }),
          ...(query.since_ms === undefined ? {} : { sinceMs: query.since_ms }),
        });
        return { events: events.map(auditView) };
      } }),
    }),
    route<unknown, z.infer<typeof KeyCreateBody>>({
      method: 'POST', url: '/v1/keys', operationId: 'createKey', summary: 'Create an API key (admin); the secret is shown once.', tag: 'keys', auth: true,
      body: KeyCreateBody,
      responses: { 201: { description: 'The key, with its secret', schema: ApiKeyShape.extend({ key: z.string() }) } },
      handler: async ({ principal, body, reply }) => {
        const created = await svc.pipeline.gate.run(principal, {
          name: 'keys.create', run: () => {
            requireRole(principal, ROLE_ADMIN, 'creating API keys');
            const { kind, ...owner } = body;
            if (kind === 'e2b') {
              const made = new E2bKeys(svc.store.apiKeys, svc.store.now).create(owner);
              const info = svc.apiKeys.get(made.id);
              if (info === undefined) throw new AgentdError('INTERNAL', 'the new E2B key is not in the table');
              return { key: made.key, info };
            }
            return svc.apiKeys.create(owner);
          },
        });
        void reply.code(201);
        return { ...apiKeyView(created.info), key: created.key };
      },
    }),
    route({
      method: 'GET', url: '/v1/keys', operationId: 'listKeys', summary: 'List API keys (admin).', tag: 'keys', auth: true,
      responses: { 200: { description: 'Keys (no secrets)', schema: z.object({ keys: z.array(ApiKeyShape) }) } },
      handler: ({ principal }) => svc.pipeline.gate.run(principal, { name: 'keys.list', run: () => {
        requireRole(principal, ROLE_ADMIN, 'listing API keys');
        return { keys: svc.apiKeys.list({ includeRevoked: true }).map(apiKeyView) };
      } }),
    }),
    revokeRoute(svc, { url: '/v1/keys/:id', operationId: 'revokeKey', summary: 'Revoke an API key (admin).', noun: 'API key', action: 'keys.revoke', revoke: (id) => svc.apiKeys.revoke(id) }),
  ];
}

/** Ed25519 public keys of the signature auth provider: same rules as API keys (admin role, audited). */
function signingKeyRoutes(svc: HttpServices): RouteSpec[] {
  const keys = new SigningKeyService(svc.store.signingKeys, svc.store.now);
  return [
    route<unknown, z.infer<typeof SigningKeyRegister>>({
      method: 'POST', url: '/v1/signing-keys', operationId: 'registerSigningKey', summary: 'Register an Ed25519 public key for signed requests (admin).', tag: 'keys', auth: true,
      body: SigningKeyRegister,
      responses: { 201: { description: 'The registered key', schema: SigningKeyShape } },
      handler: async ({ principal, body, reply }) => {
        const { public_key: publicKey, id, ...owner } = body;
        const created = await svc.pipeline.gate.run(principal, {
          name: 'signing-keys.register', run: () => {
            requireRole(principal, ROLE_ADMIN, 'registering signing keys');
            return keys.register({ ...owner, publicKey, ...(id === undefined ? {} : { id }) });
          },
        });
        void reply.code(201);
        return signingKeyView(created);
      },
    }),
    route({
      method: 'GET', url: '/v1/signing-keys', operationId: 'listSigningKeys', summary: 'List registered signing keys, revoked ones included (admin).', tag: 'keys', auth: true,
      responses: { 200: { description: 'Keys (public halves only)', schema: z.object({ keys: z.array(SigningKeyShape) }) } },
      handler: ({ principal }) => svc.pipeline.gate.run(principal, { name: 'signing-keys.list', run: () => {
        requireRole(principal, ROLE_ADMIN, 'listing signing keys');
        return { keys: keys.list({ includeRevoked: true }).map(signingKeyView) };
      } }),
    }),
    revokeRoute(svc, {
      url: '/v1/signing-keys/:id', operationId: 'revokeSigningKey', summary: 'Revoke a signing key (admin); requests it signs are refused from then on.',
      noun: 'signing key', action: 'signing-keys.revoke', revoke: (id) => keys.revoke(id),
    }),
  ];
}

interface RevokeRouteSpec {
  url: string;
  operationId: string;
  summary: string;
  /** What is revoked, in messages ("API key"). */
  noun: string;
  /** The audit action ("keys.revoke"). */
  action: 'keys.revoke' | 'signing-keys.revoke';
  /** false when there is no active key with this id. */
  revoke(id: string): boolean;
}

/** DELETE of one kind of key: admin role, audited, 404 NOT_FOUND unless an active key had that id. */
function revokeRoute(svc: HttpServices, spec: RevokeRouteSpec): RouteSpec {
  return route({
    method: 'DELETE', url: spec.url, operationId: spec.operationId, summary: spec.summary, tag: 'keys', auth: true,
    responses: { 204: { description: 'Revoked' } },
    handler: async ({ principal, params, reply }) => {
      const id = params.id ?? '';
      await svc.pipeline.gate.run(principal, { name: spec.action, target: { key_id: id }, run: () => {
        requireRole(principal, ROLE_ADMIN, `revoking ${spec.noun}s`);
        if (!spec.revoke(id)) throw new AgentdError('NOT_FOUND', `no active ${spec.noun} '${id}'`, { details: { key_id: id } });
      } });
      void reply.code(204);
      return undefined;
    },
  });
}
