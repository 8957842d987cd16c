import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isAdmin } from '../../auth/tenancy.js';
import type { Principal } from '../../auth/types.js';
import { AgentdError } from '../../core/errors.js';
import { isLocalCaller } from '../../sandbox/host-path-grant.js';
import type { SandboxCreate } from '../../sandbox/spec.js';
import type { E2bSandboxRecord } from '../../state/e2b-sandboxes.js';
import type { SandboxRecord } from '../../state/types.js';
import type { HttpServices } from '../http/services.js';
import { BASE_TEMPLATE, CONTROL_PREFIX, DEFAULT_TIMEOUT_S, ENVD_VERSION } from './constants.js';
import type { E2bKeys } from './keys.js';

/** The largest timeout a create, connect or setTimeout may ask for (E2B's own ceiling: 24 h). */
const MAX_TIMEOUT_S = 24 * 3600;
/** What the internet means in E2B's network rules: every address. */
const ALL_TRAFFIC = '0.0.0.0/0';

const Metadata = z.record(z.string().min(1).max(128), z.string().max(256)).refine((m) => Object.keys(m).length <= 64, 'at most 64 metadata entries');
const Timeout = z.number().int().min(1).max(MAX_TIMEOUT_S).describe('Seconds.');

/**
 * The create body the SDK sends (`POST /v2/sandboxes`). Fields agentd cannot honour are
 * accepted by the schema only to be refused by name (`unsupported`), never ignored.
 */
const CreateBody = z.object({
  templateID: z.string().min(1).max(128),
  metadata: Metadata.optional(),
  envVars: z.record(z.string().regex(/^[^=\0]+$/), z.string().max(128 * 1024)).optional(),
  timeout: Timeout.optional(),
  allow_internet_access: z.boolean().optional(),
  network: z.object({
    allowOut: z.array(z.string().min(1).max(300)).max(512).optional(),
    denyOut: z.array(z.string().min(1).max(300)).max(512).optional(),
    allowPublicTraffic: z.boolean().optional(),
    rules: z.unknown().optional(),
    egressProxy: z.unknown().optional(),
    maskRequestHost: z.unknown().optional(),
    httpsPorts: z.unknown().optional(),
  }).strict().optional(),
  autoPause: z.boolean().optional(),
  autoPauseMemory: z.boolean().optional(),
  autoResume: z.object({ enabled: z.boolean() }).strict().optional(),
  secure: z.boolean().optional(),
  iam: z.unknown().optional(),
  mcp: z.unknown().optional(),
  volumeMounts: z.unknown().optional(),
}).strict();
type CreateBody = z.infer<typeof CreateBody>;

const TimeoutBody = z.object({ timeout: Timeout }).strict();
const ConnectBody = z.object({ timeout: Timeout.optional(), memory: z.boolean().optional() }).strict();
const ResumeBody = z.object({ timeout: Timeout.optional(), autoPause: z.boolean().optional() }).strict();
const PauseBody = z.object({ memory: z.boolean().optional() }).strict();
const ListQuery = z.object({
  metadata: z.string().max(8192).optional(),
  state: z.union([z.string(), z.array(z.string())]).optional(),
  limit: z.string().regex(/^\d{1,4}$/).optional(),
  nextToken: z.string().max(128).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  template: z.string().max(128).optional(),
  startedAfter: z.string().max(64).optional(),
}).strict();

function unsupported(field: string, why: string): AgentdError {
  return new AgentdError('INVALID_ARGUMENT', `${field} is not supported by agentd's E2B API: ${why} (docs/e2b.md)`, { details: { field, reason: 'e2b_unsupported' } });
}

/** The agentd create request an E2B create stands for; refuses what does not map. */
export function toAgentdCreate(b: CreateBody, domainTtl: { ceilingMs: number | undefined }): { req: SandboxCreate; timeoutMs: number; autoPause: boolean } {
  if (b.iam !== undefined) throw unsupported('iam', 'workload identity tokens');
  if (b.mcp !== undefined) throw unsupported('mcp', 'the MCP gateway template (agentd has its own MCP server: docs/mcp.md)');
  if (b.volumeMounts !== undefined) throw unsupported('volumeMounts', 'E2B volumes (use agentd bind mounts through its own API)');
  if (b.autoResume?.enabled === true) throw unsupported('lifecycle.autoResume', 'a paused sandbox resumes on connect only');
  if (b.autoPauseMemory === false) throw unsupported("onTimeout.keepMemory false", "agentd's pause keeps memory (the sandbox is frozen, not snapshotted)");
  const n = b.network;
  if (n?.rules !== undefined) throw unsupported('network.rules', 'per-host request transforms');
  if (n?.egressProxy !== undefined) throw unsupported('network.egressProxy', 'an upstream egress proxy');
  if (n?.maskRequestHost !== undefined) throw unsupported('network.maskRequestHost', 'host masking of relayed requests');
  if (n?.httpsPorts !== undefined) throw unsupported('network.httpsPorts', 'TLS on relayed ports');
  if (n?.allowPublicTraffic === true) throw unsupported('network.allowPublicTraffic true', 'a relayed port always needs the sandbox\'s traffic or access token');
  const timeoutMs = (b.timeout ?? DEFAULT_TIMEOUT_S) * 1000;
  const autoPause = b.autoPause === true;
  if (autoPause && domainTtl.ceilingMs !== undefined) {
    throw new AgentdError('POLICY_DENIED', `autoPause keeps a sandbox past its timeout, and this daemon caps every sandbox's life (sandbox.ttl_ms ${domainTtl.ceilingMs})`, { details: { field: 'autoPause' } });
  }
  const req: SandboxCreate = {};
  if (b.templateID !== BASE_TEMPLATE) req.template = b.templateID;
  if (b.metadata !== undefined && Object.keys(b.metadata).length > 0) req.labels = { ...b.metadata };
  if (b.envVars !== undefined && Object.keys(b.envVars).length > 0) req.env = { ...b.envVars };
  // Kill on timeout is agentd's TTL; pause on timeout is the E2B plane's own sweeper (no TTL).
  if (!autoPause) req.ttl_ms = timeoutMs;
  const denyAll = n?.denyOut?.includes(ALL_TRAFFIC) === true;
  const deny = (n?.denyOut ?? []).filter((h) => h !== ALL_TRAFFIC);
  if (b.allow_internet_access === false || (denyAll && (n?.allowOut ?? []).length === 0)) {
    if ((n?.allowOut ?? []).length > 0) throw new AgentdError('INVALID_ARGUMENT', 'allow_internet_access false and network.allowOut together: say one', { details: { field: 'network.allowOut' } });
    req.network = 'none';
  } else if (denyAll || (n?.allowOut ?? []).length > 0) {
    req.network = 'allowlist';
    req.egress = { allow: (n?.allowOut ?? []).filter((h) => h !== ALL_TRAFFIC), ...(deny.length > 0 ? { deny } : {}) };
  } else if (deny.length > 0) {
    req.egress = { deny };
  }
  return { req, timeoutMs, autoPause };
}

/** `code` is the HTTP status, as E2B's API answers: the SDK reads `error.code` and `error.message`. */
export function controlError(err: unknown): { status: number; body: { code: number; message: string } } {
  const e = err instanceof AgentdError ? err : new AgentdError('INTERNAL', 'internal error', { cause: err });
  let status = e.httpStatus;
  if (e.code === 'INTERNAL' && !(err instanceof AgentdError)) status = 500;
  if (status === 499) status = 400;
  if (status === 200) status = 500;
  return { status, body: { code: status, message: e.message } };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** E2B's two states: a suspended sandbox, and one stopped for being idle (`sandbox.idle_timeout_ms`), are paused: connect brings either back. */
function stateOf(rec: SandboxRecord): 'running' | 'paused' {
  return rec.state === 'suspended' || rec.state === 'stopped' ? 'paused' : 'running';
}

const LISTED = new Set(['running', 'suspended', 'stopped']);

export interface ControlDeps {
  svc: HttpServices;
  keys: E2bKeys;
  domain: string;
}

/** The E2B control plane under `/e2b`: X-API-KEY auth, then the same gate as agentd's REST routes. */
export function registerControlPlane(app: FastifyInstance, deps: ControlDeps): void {
  const { svc, keys, domain } = deps;
  const m = svc.sandboxes;
  const gate = svc.pipeline.gate;
  const now = (): number => svc.store.now();

  const principalOf = (req: FastifyRequest): Principal => {
    if (req.principal === undefined) throw new AgentdError('INTERNAL', 'route reached without authentication');
    return req.principal;
  };

  /** The E2B row and agentd's record of a sandbox of the caller's tenant; NOT_FOUND otherwise. */
  const lookup = (p: Principal, id: string): { row: E2bSandboxRecord; rec: SandboxRecord } => {
    const row = svc.store.e2b.getForTenant(id, p.tenant);
    const rec = row === undefined ? undefined : svc.store.sandboxes.getForTenant(id, p.tenant);
    if (row === undefined || rec === undefined || !LISTED.has(rec.state)) {
      throw new AgentdError('NOT_FOUND', `sandbox '${id}' not found`, { details: { sandbox_id: id } });
    }
    return { row, rec };
  };

  const sandboxBody = (row: E2bSandboxRecord): Record<string, unknown> => ({
    sandboxID: row.id, templateID: row.templateId, clientID: 'agentd', envdVersion: ENVD_VERSION,
    envdAccessToken: row.accessToken, trafficAccessToken: row.trafficToken, domain,
  });

  const infoBody = (row: E2bSandboxRecord, rec: SandboxRecord): Record<string, unknown> => {
    const spec = rec.spec as { limits?: { cpus?: number; memoryBytes?: number }; network?: string; egress?: { allow?: string[]; deny?: string[] } } | undefined;
    return {
      sandboxID: row.id, templateID: row.templateId, clientID: 'agentd', envdVersion: ENVD_VERSION, metadata: row.metadata,
      startedAt: iso(row.createdAtMs), endAt: iso(row.endAtMs), state: stateOf(rec),
      cpuCount: Math.max(1, Math.ceil(spec?.limits?.cpus ?? 1)), memoryMB: Math.round((spec?.limits?.memoryBytes ?? 0) / (1 << 20)), diskSizeMB: 0,
      allowInternetAccess: spec?.network !== 'none', domain,
      ...(spec?.egress ? { network: { ...(spec.egress.allow ? { allowOut: spec.egress.allow } : {}), ...(spec.egress.deny ? { denyOut: spec.egress.deny } : {}) } } : {}),
      lifecycle: { onTimeout: row.autoPause ? 'pause' : 'kill', autoResume: false },
    };
  };

  /** Sets a sandbox's timeout: E2B's row, and agentd's TTL when the timeout kills. */
  const applyTimeout = (row: E2bSandboxRecord, timeoutMs: number): void => {
    const ceiling = m.grants().ttlMs;
    if (ceiling !== undefined && timeoutMs > ceiling) {
      throw new AgentdError('POLICY_DENIED', `a timeout of ${timeoutMs} ms is longer than this daemon's ceiling ${ceiling} (sandbox.ttl_ms)`, { details: { field: 'timeout', limit: ceiling } });
    }
    const end = now() + timeoutMs;
    svc.store.e2b.setTimeout(row.id, timeoutMs, end);
    if (!row.autoPause) svc.store.sandboxes.update(row.id, { expiresAtMs: end });
  };

  const routes = (scope: FastifyInstance): void => {
    scope.addHook('onRequest', async (req, reply) => {
      const raw = req.headers['x-api-key'];
      const key = Array.isArray(raw) ? raw[0] : raw;
      try {
        if (key === undefined || key === '') throw new AgentdError('UNAUTHENTICATED', 'missing X-API-KEY (an E2B key made by `agentd keys create --e2b`)');
        const v = keys.verify(key);
        req.principal = v.principal;
        rememberKeyId(req, v.keyId);
      } catch (err) {
        svc.store.audit.recordAuthFailure({
          source: req.socket.remoteAddress ?? 'unix', code: 'UNAUTHENTICATED', reason: (err as Error).message, method: req.method, route: req.routeOptions.url ?? 'unknown',
        });
        if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') void reply.header('connection', 'close');
        throw err;
      }
    });

    scope.post('/v2/sandboxes', async (req, reply) => {
      const p = principalOf(req);
      const out = await gate.run(p, {
        name: 'sandbox.create', input: req.body ?? {}, schema: CreateBody,
        run: async (b: CreateBody) => {
          const { req: create, timeoutMs, autoPause } = toAgentdCreate(b, { ceilingMs: m.grants().ttlMs });
          const { record } = await m.create(p.tenant, create, undefined, { admin: isAdmin(p), local: isLocalCaller(p) });
          const started = now();
          const row = svc.store.e2b.insert({
            id: record.id, tenant: p.tenant, keyId: keyIdOf(req), subject: p.subject, roles: [...p.roles], templateId: b.templateID,
            metadata: b.metadata ?? {}, accessToken: randomBytes(32).toString('hex'), trafficToken: randomBytes(32).toString('hex'),
            timeoutMs, autoPause, createdAtMs: started, endAtMs: started + timeoutMs,
          });
          return { id: record.id, row };
        },
      });
      void reply.code(201);
      return sandboxBody(out.row);
    });

    scope.get('/v2/sandboxes', async (req, reply) => {
      const p = principalOf(req);
      const page = await gate.run(p, {
        name: 'sandbox.list', input: req.query ?? {}, schema: ListQuery,
        run: (q: z.infer<typeof ListQuery>) => listPage(q, p),
      });
      if (page.next !== undefined) void reply.header('x-next-token', page.next);
      return page.items;
    });

    const listPage = (q: z.infer<typeof ListQuery>, p: Principal): { items: unknown[]; next?: string } => {
      const states = new Set((q.state === undefined ? ['running', 'paused'] : [q.state].flat().flatMap((s) => s.split(','))).map((s) => s.trim()).filter((s) => s !== ''));
      for (const s of states) if (s !== 'running' && s !== 'paused') throw new AgentdError('INVALID_ARGUMENT', `state '${s}' must be running or paused`, { details: { field: 'state' } });
      const meta = parseMetadataFilter(q.metadata);
      const after = q.startedAfter === undefined ? undefined : Date.parse(q.startedAfter);
      if (after !== undefined && Number.isNaN(after)) throw new AgentdError('INVALID_ARGUMENT', 'startedAfter must be an ISO date', { details: { field: 'startedAfter' } });
      const limit = Math.min(Number(q.limit ?? 100), 1000);
      if (limit < 1) throw new AgentdError('INVALID_ARGUMENT', 'limit must be 1-1000', { details: { field: 'limit' } });
      const rows = svc.store.e2b.list(p.tenant).flatMap((row) => {
        const rec = svc.store.sandboxes.getForTenant(row.id, p.tenant);
        if (rec === undefined || !LISTED.has(rec.state)) return [];
        if (!states.has(stateOf(rec))) return [];
        if (q.template !== undefined && q.template !== row.templateId) return [];
        if (after !== undefined && row.createdAtMs <= after) return [];
        for (const [k, v] of Object.entries(meta)) if (row.metadata[k] !== v) return [];
        return [{ row, rec }];
      });
      // Stable order: start time then id; the token is the last item's position key.
      rows.sort((a, b) => (a.row.createdAtMs - b.row.createdAtMs) || a.row.id.localeCompare(b.row.id));
      if (q.order === 'desc') rows.reverse();
      let start = 0;
      if (q.nextToken !== undefined) {
        const at = rows.findIndex((r) => r.row.id === q.nextToken);
        if (at < 0) throw new AgentdError('INVALID_ARGUMENT', 'nextToken is not from this listing (or its sandbox is gone)', { details: { field: 'nextToken' } });
        start = at;
      }
      const slice = rows.slice(start, start + limit);
      const next = rows[start + limit]?.row.id;
      return { items: slice.map(({ row, rec }) => infoBody(row, rec)), ...(next === undefined ? {} : { next }) };
    };

    scope.get<{ Params: { id: string } }>('/sandboxes/:id', async (req) => {
      const p = principalOf(req);
      return gate.run(p, { name: 'sandbox.get', sandboxId: req.params.id, run: () => {
        const { row, rec } = lookup(p, req.params.id);
        return infoBody(row, rec);
      } });
    });

    scope.delete<{ Params: { id: string } }>('/sandboxes/:id', async (req, reply) => {
      const p = principalOf(req);
      await gate.run(p, { name: 'sandbox.delete', sandboxId: req.params.id, run: async () => {
        lookup(p, req.params.id);
        await m.destroy(p.tenant, req.params.id);
        svc.store.e2b.delete(req.params.id);
      } });
      return reply.code(204).send();
    });

    scope.post<{ Params: { id: string } }>('/sandboxes/:id/timeout', async (req, reply) => {
      const p = principalOf(req);
      await gate.run(p, { name: 'sandbox.timeout', sandboxId: req.params.id, input: req.body ?? {}, schema: TimeoutBody, run: (b: z.infer<typeof TimeoutBody>) => {
        const { row } = lookup(p, req.params.id);
        applyTimeout(row, b.timeout * 1000);
      } });
      return reply.code(204).send();
    });

    scope.post<{ Params: { id: string } }>('/sandboxes/:id/pause', async (req, reply) => {
      const p = principalOf(req);
      const paused = await gate.run(p, { name: 'sandbox.suspend', sandboxId: req.params.id, input: req.body ?? {}, schema: PauseBody, run: async (b: z.infer<typeof PauseBody>) => {
        if (b.memory === false) throw unsupported('keepMemory false', "agentd's pause keeps memory");
        const { rec } = lookup(p, req.params.id);
        if (stateOf(rec) === 'paused') return false;
        await m.suspend(p.tenant, req.params.id);
        return true;
      } });
      if (!paused) return reply.code(409).send({ code: 409, message: `sandbox '${req.params.id}' is already paused` });
      return reply.code(204).send();
    });

    /** Connect (v2) and resume (v1): a paused sandbox is resumed, the timeout set anew when given. */
    const connect = async (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply, schema: typeof ConnectBody | typeof ResumeBody, mustBePaused: boolean): Promise<unknown> => {
      const p = principalOf(req);
      const out = await gate.run(p, { name: 'sandbox.resume', sandboxId: req.params.id, input: req.body ?? {}, schema, run: async (b: { timeout?: number; memory?: boolean; autoPause?: boolean }) => {
        if (b.memory === false) throw unsupported('onResume reboot', 'a paused sandbox resumes where it stopped');
        if (b.autoPause !== undefined) throw unsupported('autoPause on resume', 'set it at create');
        const { row, rec } = lookup(p, req.params.id);
        if (mustBePaused && stateOf(rec) !== 'paused') throw new AgentdError('CONFLICT', `sandbox '${row.id}' is already running`, { details: { sandbox_id: row.id } });
        const resumed = stateOf(rec) === 'paused';
        // Suspended: thawed as it was. Stopped for being idle: started again on its files (its processes are gone).
        if (rec.state === 'suspended') await m.resume(p.tenant, row.id);
        else if (rec.state === 'stopped') await m.start(p.tenant, row.id, undefined, { admin: isAdmin(p), local: isLocalCaller(p) });
        if (b.timeout !== undefined) applyTimeout(row, b.timeout * 1000);
        else if (resumed) applyTimeout(row, row.timeoutMs);
        return { resumed, row };
      } });
      void reply.code(out.resumed ? 201 : 200);
      return sandboxBody(out.row);
    };
    scope.post<{ Params: { id: string } }>('/v2/sandboxes/:id/connect', (req, reply) => connect(req, reply, ConnectBody, false));
    scope.post<{ Params: { id: string } }>('/sandboxes/:id/resume', (req, reply) => connect(req, reply, ResumeBody, true));

    // Calls of the SDK agentd does not serve: a clear 501, never a hang (docs/e2b.md).
    const notServed: Array<['GET' | 'PUT' | 'POST' | 'DELETE', string, string]> = [
      ['GET', '/sandboxes/:id/metrics', 'sandbox metrics (use agentd\'s GET /v1/sandboxes/{id}: live usage)'],
      ['GET', '/sandboxes/metrics', 'sandbox metrics'],
      ['PUT', '/sandboxes/:id/network', 'changing the network of a running sandbox'],
      ['POST', '/sandboxes/:id/snapshots', 'snapshots as templates (agentd snapshots are of files: POST /v1/sandboxes/{id}/snapshot)'],
      ['GET', '/snapshots', 'snapshots as templates'],
      ['POST', '/sandboxes/:id/fork', 'fork (agentd has POST /v1/sandboxes/{id}/fork)'],
      ['DELETE', '/templates/:id', 'templates (agentd templates are in its config)'],
      ['GET', '/templates', 'templates (agentd templates are in its config)'],
      ['POST', '/v3/templates', 'template builds (agentd builds images with `agentd image build`)'],
      ['GET', '/volumes', 'volumes'],
      ['POST', '/volumes', 'volumes'],
    ];
    // Any other call of the API is one agentd does not serve: 501 (a 404 would read as "sandbox not found").
    scope.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/*', handler: async (req) => {
      throw new AgentdError('UNKNOWN_CAPABILITY', `agentd's E2B API does not serve ${req.method} ${(req.url.split('?')[0] ?? '').slice(CONTROL_PREFIX.length)}`, { details: { reason: 'e2b_unsupported' } });
    } });
    for (const [method, url, what] of notServed) {
      scope.route({ method, url, handler: async () => { throw new AgentdError('UNKNOWN_CAPABILITY', `agentd's E2B API does not serve ${what}`, { details: { reason: 'e2b_unsupported' } }); } });
    }
  };

  app.register(async (scope) => {
    scope.setErrorHandler((err, req, reply) => {
      const mapped = err instanceof AgentdError && err.code === 'UNKNOWN_CAPABILITY' ? { status: 501, body: { code: 501, message: err.message } } : controlError(fromFastify(err));
      if (mapped.status >= 500 && mapped.status !== 501) svc.logger.error({ err: (err as Error).message, url: req.url }, 'e2b control plane error');
      if (reply.sent) return;
      void reply.code(mapped.status).type('application/json').send(mapped.body);
    });
    routes(scope);
  }, { prefix: CONTROL_PREFIX });
}

/** A fastify error (body limit, bad JSON) as an AgentdError; zod errors of gate.run are AgentdErrors already. */
function fromFastify(err: unknown): unknown {
  if (err instanceof AgentdError) return err;
  if (err instanceof SyntaxError) return new AgentdError('INVALID_ARGUMENT', `malformed JSON: ${err.message}`);
  const e = err as { statusCode?: number; message?: string };
  if (e.statusCode === 413) return new AgentdError('PAYLOAD_TOO_LARGE', e.message ?? 'body too large');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new AgentdError('INVALID_ARGUMENT', e.message ?? 'bad request');
  return err;
}

/** The SDK's metadata filter: `k=v&k2=v2`, keys and values URI-encoded (then the whole query value). */
export function parseMetadataFilter(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (s === undefined || s === '') return out;
  for (const [k, v] of new URLSearchParams(s)) {
    try {
      out[decodeURIComponent(k)] = decodeURIComponent(v);
    } catch {
      throw new AgentdError('INVALID_ARGUMENT', 'metadata filter is not URI-encoded', { details: { field: 'metadata' } });
    }
  }
  return out;
}

const KEY_IDS = new WeakMap<FastifyRequest, string>();
function keyIdOf(req: FastifyRequest): string {
  const id = KEY_IDS.get(req);
  if (id === undefined) throw new AgentdError('INTERNAL', 'no key id on an authenticated E2B request');
  return id;
}
/** Remembers the key id of an authenticated control-plane request (for the sandbox row). */
export function rememberKeyId(req: FastifyRequest, keyId: string): void {
  KEY_IDS.set(req, keyId);
}
