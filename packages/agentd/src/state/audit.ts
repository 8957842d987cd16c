import type Database from 'better-sqlite3';
import type { AuditEvent, AuditEventInput, AuditQuery, AuditStatus } from './types.js';
import { parseJson } from './json.js';
import { redactDetails } from './redact.js';

interface AuditRow {
  id: number;
  ts_ms: number;
  subject: string | null;
  tenant: string | null;
  action: string;
  capability: string | null;
  sandbox_id: string | null;
  intent_id: string | null;
  status: string;
  code: string | null;
  duration_ms: number | null;
  details: string;
}

function toEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    tsMs: row.ts_ms,
    subject: row.subject,
    tenant: row.tenant,
    action: row.action,
    capability: row.capability,
    sandboxId: row.sandbox_id,
    intentId: row.intent_id,
    status: row.status as AuditStatus,
    code: row.code,
    durationMs: row.duration_ms,
    details: parseJson<Record<string, unknown>>(row.details, {}),
  };
}

export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 1000;
/** Failed authentications are counted in one row per (source, reason) per this window. */
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/**
 * Distinct (source, reason) pairs remembered per window; past it, further new pairs share
 * one row (source "*"), so a flood from many addresses still adds at most this many + 1 rows.
 */
export const AUTH_FAILURE_MAX_KEYS = 1024;

/** One refused authentication, as the transport saw it. */
export interface AuthFailure {
  /** Who: a TCP address ("127.0.0.1"), or "unix:uid:<n>" on the socket. */
  source: string;
  /** The error code (UNAUTHENTICATED, or UNAVAILABLE for an unreachable JWKS). */
  code: string;
  /** The provider's message, e.g. "invalid API key". */
  reason: string;
  method: string;
  route: string;
}

/** How long and how many audit events are kept (config `audit`); undefined = no bound of that kind. */
export interface AuditRetention {
  maxAgeMs?: number;
  maxEvents?: number;
}

/** The append-only `audit_events` table. Details are always redacted on the way in. */
export class AuditRepo {
  readonly #now: () => number;
  readonly #insert: Database.Statement;
  readonly #prune: Database.Statement<[number]>;
  readonly #queries = new Map<string, Database.Statement>();
  readonly #db: Database.Database;
  readonly #bump: Database.Statement;
  readonly #pruneCount: Database.Statement<[number]>;
  /** (source, reason) -> audit row id, for the current window only. */
  readonly #failures = new Map<string, number>();
  #failureWindow = -1;
  /** Rows of appendSoon() not yet written (see there), in arrival order. */
  #pending: Record<string, unknown>[] = [];
  #flushQueued = false;
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #insertMany: (rows: Record<string, unknown>[]) => void;
  /** Where a failed write of deferred rows is reported (the gate's logger). */
  onDeferredError: (err: unknown, rows: number) => void = () => undefined;

  constructor(db: Database.Database, now: () => number) {
    this.#db = db;
    this.#now = now;
    this.#insert = db.prepare(`INSERT INTO audit_events (ts_ms, subject, tenant, action, capability, sandbox_id, intent_id, status, code, duration_ms, details)
      VALUES (@ts_ms, @subject, @tenant, @action, @capability, @sandbox_id, @intent_id, @status, @code, @duration_ms, @details)`);
    this.#prune = db.prepare('DELETE FROM audit_events WHERE ts_ms < ?');
    this.#bump = db.prepare(`UPDATE audit_events SET details = json_set(details, '$.count', coalesce(json_extract(details, '$.count'), 1) + 1, '$.last_ms', @last_ms)
      WHERE id = @id`);
    // Keeps the newest N rows by id (ids only grow: AUTOINCREMENT).
    this.#pruneCount = db.prepare('DELETE FROM audit_events WHERE id <= (SELECT id FROM audit_events ORDER BY id DESC LIMIT 1 OFFSET ?)');
    this.#insertMany = db.transaction((rows: Record<string, unknown>[]) => {
      for (const row of rows) this.#insert.run(row);
    });
  }

  /**
   * Appends one event after the current turn of the event loop, with every other event of
   * that turn in one transaction: the reply that caused it is written to its socket first
   * (about 0.2 ms of SQLite work per exec no longer on its path; concurrent requests share a
   * commit). The row's time, content and order are fixed now; every read, prune, direct
   * append and close writes the pending rows first, so nothing can see the log without them.
   * A daemon killed within that turn loses them (as it would lose a reply not yet sent).
   */
  appendSoon(event: AuditEventInput): void {
    this.#pending.push(this.#row(event));
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(() => this.flush());
  }

  /**
   * appendSoon() for events that come in streams (the egress proxy's connections): written
   * within `withinMs` (or sooner, with the next appendSoon turn), many to a transaction, so a
   * connection does not pay a commit of its own. The same guarantees otherwise: reads, prunes,
   * direct appends and close() write them first; a daemon killed meanwhile loses them.
   */
  appendWithin(event: AuditEventInput, withinMs: number): void {
    this.#pending.push(this.#row(event));
    if (this.#flushQueued || this.#flushTimer !== undefined) return;
    this.#flushTimer = setTimeout(() => this.flush(), withinMs);
  }

  /** Writes the rows appendSoon() holds (one transaction). Never throws: a failure goes to onDeferredError. */
  flush(): void {
    this.#flushQueued = false;
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#pending.length === 0) return;
    const rows = this.#pending;
    this.#pending = [];
    try {
      this.#insertMany(rows);
    } catch (err) {
      this.onDeferredError(err, rows.length);
    }
  }

  #row(event: AuditEventInput): Record<string, unknown> {
    return {
      ts_ms: event.tsMs ?? this.#now(),
      subject: event.subject,
      tenant: event.tenant,
      action: event.action,
      capability: event.capability ?? null,
      sandbox_id: event.sandboxId ?? null,
      intent_id: event.intentId ?? null,
      status: event.status,
      code: event.code ?? null,
      duration_ms: event.durationMs === undefined || event.durationMs === null ? null : Math.round(event.durationMs),
      details: JSON.stringify(redactDetails(event.details)),
    };
  }

  /**
   * Records a refused authentication without letting a flood of them grow the table: the
   * first failure of a (source, reason) pair in a one-minute window adds a row
   * (action "auth", status "denied", details {source, reason, method, route, count: 1,
   * last_ms}); each repeat in the same window only bumps that row's count and last_ms.
   * Returns the row id.
   */
  recordAuthFailure(f: AuthFailure): number {
    const now = this.#now();
    const window = Math.floor(now / AUTH_FAILURE_WINDOW_MS);
    if (window !== this.#failureWindow) {
      this.#failures.clear();
      this.#failureWindow = window;
    }
    const reason = f.reason.slice(0, 256);
    let source = f.source.slice(0, 128);
    let key = `${source}\0${f.code}\0${reason}`;
    if (!this.#failures.has(key) && this.#failures.size >= AUTH_FAILURE_MAX_KEYS) {
      source = '*';
      key = '*';
    }
    const known = this.#failures.get(key);
    this.flush();
    if (known !== undefined) {
      const changed = this.#bump.run({ id: known, last_ms: now }).changes;
      if (changed === 1) return known;
      // The row was pruned meanwhile: start a new one.
    }
    const id = this.append({
      tsMs: now,
      subject: null,
      tenant: null,
      action: 'auth',
      status: 'denied',
      code: f.code,
      details: { source, reason: key === '*' ? 'many sources' : reason, method: f.method, route: f.route, count: 1, last_ms: now },
    });
    this.#failures.set(key, id);
    return id;
  }

  /** Applies the retention: events older than maxAgeMs go, then all but the newest maxEvents. Returns how many were deleted. */
  applyRetention(r: AuditRetention): number {
    this.flush();
    let deleted = 0;
    if (r.maxAgeMs !== undefined) deleted += this.prune(this.#now() - r.maxAgeMs);
    if (r.maxEvents !== undefined) deleted += this.#pruneCount.run(r.maxEvents).changes;
    return deleted;
  }

  /** Appends one event; returns its id. */
  append(event: AuditEventInput): number {
    this.flush();
    const info = this.#insert.run(this.#row(event));
    return Number(info.lastInsertRowid);
  }

  /** See AuditQuery for the meaning of each field and the defaults. */
  query(q: AuditQuery = {}): AuditEvent[] {
    this.flush();
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    if (q.tenant !== undefined) { where.push('tenant = @tenant'); params.tenant = q.tenant; }
    if (q.sinceMs !== undefined) { where.push('ts_ms >= @since'); params.since = q.sinceMs; }
    if (q.untilMs !== undefined) { where.push('ts_ms < @until'); params.until = q.untilMs; }
    if (q.sandboxId !== undefined) { where.push('sandbox_id = @sandbox'); params.sandbox = q.sandboxId; }
    if (q.subject !== undefined) { where.push('subject = @subject'); params.subject = q.subject; }
    const order = q.order === 'asc' ? 'ASC' : 'DESC';
    params.limit = Math.max(1, Math.min(AUDIT_MAX_LIMIT, Math.trunc(q.limit ?? AUDIT_DEFAULT_LIMIT)));
    const sql = `SELECT * FROM audit_events${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ts_ms ${order}, id ${order} LIMIT @limit`;
    // One prepared statement per filter combination (at most 2^5 * 2 shapes), reused.
    let stmt = this.#queries.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#queries.set(sql, stmt);
    }
    return (stmt.all(params) as AuditRow[]).map(toEvent);
  }

  /** Deletes events older than `beforeMs`; returns how many. */
  prune(beforeMs: number): number {
    this.flush();
    return this.#prune.run(beforeMs).changes;
  }
}
