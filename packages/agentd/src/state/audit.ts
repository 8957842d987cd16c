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

/** The append-only `audit_events` table. Details are always redacted on the way in. */
export class AuditRepo {
  readonly #now: () => number;
  readonly #insert: Database.Statement;
  readonly #prune: Database.Statement<[number]>;
  readonly #queries = new Map<string, Database.Statement>();
  readonly #db: Database.Database;

  constructor(db: Database.Database, now: () => number) {
    this.#db = db;
    this.#now = now;
    this.#insert = db.prepare(`INSERT INTO audit_events (ts_ms, subject, tenant, action, capability, sandbox_id, intent_id, status, code, duration_ms, details)
      VALUES (@ts_ms, @subject, @tenant, @action, @capability, @sandbox_id, @intent_id, @status, @code, @duration_ms, @details)`);
    this.#prune = db.prepare('DELETE FROM audit_events WHERE ts_ms < ?');
  }

  /** Appends one event; returns its id. */
  append(event: AuditEventInput): number {
    const info = this.#insert.run({
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
    });
    return Number(info.lastInsertRowid);
  }

  /** See AuditQuery for the meaning of each field and the defaults. */
  query(q: AuditQuery = {}): AuditEvent[] {
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
    return this.#prune.run(beforeMs).changes;
  }
}
