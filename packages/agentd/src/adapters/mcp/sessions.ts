/**
 * MCP sessions of the streamable HTTP transport. A session belongs to the principal that
 * initialized it: every later request is authenticated again by the auth chain, and one from
 * another principal (subject, tenant or provider) is answered as if the session did not exist
 * (404, as another tenant's sandbox). The session id is therefore a name, never a credential.
 *
 * The default sandbox: created on the first tool call that omits sandbox_id (through the gate,
 * as POST /v1/sandboxes, labelled `mcp_session=<id>`), destroyed when the session ends: DELETE
 * /mcp, an idle session swept, or the daemon stopping (in-memory sessions do not survive it).
 */
import { randomUUID } from 'node:crypto';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../../auth/types.js';
import { AgentdError } from '../../core/errors.js';
import type { Logger } from '../../util/logger.js';
import type { McpOperations } from './operations.js';
import { buildServer } from './server.js';
import type { ToolContext, ToolSpec } from './tools.js';

/** Label of a session's default sandbox (its value is the session id). */
export const SESSION_LABEL = 'mcp_session';

export interface SessionLimits {
  /** A session without a request for this long ends (its default sandbox destroyed). */
  idleMs: number;
  /** Open sessions per principal (subject in a tenant); one more is RESOURCE_EXHAUSTED. */
  perPrincipal: number;
  /** Open sessions in the daemon. */
  total: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, perPrincipal: 32, total: 1024 };

function ownerKey(p: Principal): string {
  return JSON.stringify([p.tenant, p.subject, p.provider]);
}

export class McpSession {
  readonly owner: string;
  lastUsedMs = Date.now();
  #default: Promise<string> | undefined;
  #defaultId: string | undefined;
  #ended = false;
  #ending: Promise<void> | undefined;
  readonly server: Server;

  constructor(
    readonly transport: WebStandardStreamableHTTPServerTransport,
    readonly principal: Principal,
    private readonly ops: McpOperations,
    private readonly logger: Logger,
    build: (session: McpSession) => Server,
  ) {
    this.owner = ownerKey(principal);
    this.server = build(this);
  }

  get id(): string {
    return this.transport.sessionId ?? '';
  }

  ownedBy(p: Principal): boolean {
    return ownerKey(p) === this.owner;
  }

  context(principal: Principal | undefined, signal: AbortSignal): ToolContext {
    if (principal === undefined) throw new AgentdError('UNAUTHENTICATED', 'the MCP request carried no authenticated caller');
    if (!this.ownedBy(principal)) throw new AgentdError('NOT_FOUND', 'MCP session not found');
    return {
      principal, signal, ops: this.ops,
      sandbox: (asked) => asked === undefined ? this.defaultSandbox(principal, signal) : Promise.resolve(asked),
      defaultSandbox: () => this.#defaultId,
      forgetDefault: (id) => {
        if (id !== this.#defaultId) return;
        this.#default = undefined;
        this.#defaultId = undefined;
      },
    };
  }

  /** The default sandbox, created once (concurrent first calls share the one create). */
  private defaultSandbox(principal: Principal, signal: AbortSignal): Promise<string> {
    if (this.#ended) return Promise.reject(new AgentdError('CONFLICT', 'the MCP session has ended'));
    this.#default ??= this.ops.create(principal, { labels: { [SESSION_LABEL]: this.id } }, signal).then(
      (r) => {
        this.#defaultId = r.id;
        // The session ended while the sandbox was being made: it goes too.
        if (this.#ended) void this.destroyDefault();
        return r.id;
      },
      (err: unknown) => {
        this.#default = undefined;
        throw err;
      },
    );
    return this.#default;
  }

  /** Ends the session once: the transport closed, the default sandbox destroyed (as its owner, through the gate). */
  end(): Promise<void> {
    this.#ending ??= (async () => {
      this.#ended = true;
      await this.transport.close().catch(() => undefined);
      await this.destroyDefault();
    })();
    return this.#ending;
  }

  private async destroyDefault(): Promise<void> {
    const id = this.#defaultId;
    if (id === undefined) return;
    this.#defaultId = undefined;
    this.#default = undefined;
    try {
      await this.ops.destroy(this.principal, id);
    } catch (err) {
      const code = err instanceof AgentdError ? err.code : 'INTERNAL';
      if (code !== 'NOT_FOUND') this.logger.warn({ sandbox: id, code, err: (err as Error).message }, 'MCP session end: could not destroy its default sandbox');
    }
  }
}

export interface SessionRegistryOptions {
  ops: McpOperations;
  tools: readonly ToolSpec[];
  listed: Tool[];
  version: string;
  stopping: AbortSignal;
  logger: Logger;
  limits?: SessionLimits;
}

export class McpSessions {
  readonly #sessions = new Map<string, McpSession>();
  readonly #limits: SessionLimits;
  readonly #sweep: NodeJS.Timeout;

  constructor(private readonly opts: SessionRegistryOptions) {
    this.#limits = opts.limits ?? DEFAULT_SESSION_LIMITS;
    this.#sweep = setInterval(() => void this.sweep(), Math.min(60_000, Math.max(50, Math.floor(this.#limits.idleMs / 4))));
    this.#sweep.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** The caller's session, or NOT_FOUND (also when it is someone else's). */
  get(id: string, principal: Principal): McpSession {
    const s = this.#sessions.get(id);
    if (s === undefined || !s.ownedBy(principal)) throw new AgentdError('NOT_FOUND', 'MCP session not found (it ended, expired, or the daemon restarted): initialize a new one', { details: { reason: 'mcp_session' } });
    s.lastUsedMs = Date.now();
    return s;
  }

  /** A new session for `principal`, connected and ready for its initialize request. */
  async open(principal: Principal): Promise<McpSession> {
    if (this.#sessions.size >= this.#limits.total) throw new AgentdError('RESOURCE_EXHAUSTED', `the daemon has ${this.#limits.total} MCP sessions open`, { retryAfterMs: 1000 });
    const key = ownerKey(principal);
    let mine = 0;
    for (const s of this.#sessions.values()) if (s.owner === key) mine++;
    if (mine >= this.#limits.perPrincipal) {
      throw new AgentdError('RESOURCE_EXHAUSTED', `you have ${mine} MCP sessions open (at most ${this.#limits.perPrincipal}): end one with DELETE /mcp, or wait for idle ones to expire`, { retryAfterMs: 1000 });
    }
    // Registered under its id once its initialize request succeeded (a failed one leaves nothing behind).
    const made: { session?: McpSession } = {};
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (id) => {
        if (made.session) this.#sessions.set(id, made.session);
      },
    });
    const session = new McpSession(transport, principal, this.opts.ops, this.opts.logger, (s) => buildServer({
      version: this.opts.version, tools: this.opts.tools, listed: this.opts.listed, scope: s, stopping: this.opts.stopping,
    }));
    made.session = session;
    transport.onclose = () => {
      this.#sessions.delete(session.id);
      void session.end();
    };
    await session.server.connect(transport);
    return session;
  }

  /** Ends sessions idle for longer than the limit. */
  async sweep(now = Date.now()): Promise<void> {
    const idle = [...this.#sessions.values()].filter((s) => now - s.lastUsedMs > this.#limits.idleMs);
    for (const s of idle) this.#sessions.delete(s.id);
    await Promise.allSettled(idle.map((s) => s.end()));
  }

  /** Ends every session (the daemon is stopping). */
  async close(): Promise<void> {
    clearInterval(this.#sweep);
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(all.map((s) => s.end()));
  }
}
