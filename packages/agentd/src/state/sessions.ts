import type Database from 'better-sqlite3';
import type { NewSession, SessionFilter, SessionPatch, SessionRecord, SessionState } from './types.js';

interface SessionRow {
  id: string;
  tenant: string;
  sandbox_id: string;
  state: string;
  idle_timeout_ms: number;
  detach_timeout_ms: number;
  suspend_after_ms: number;
  created_ms: number;
  last_active_ms: number;
}

function toRecord(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    sandboxId: row.sandbox_id,
    state: row.state as SessionState,
    idleTimeoutMs: row.idle_timeout_ms,
    detachTimeoutMs: row.detach_timeout_ms,
    suspendAfterMs: row.suspend_after_ms,
    createdAtMs: row.created_ms,
    lastActiveMs: row.last_active_ms,
  };
}

/** The `sessions` table. A session's sandbox must exist (foreign key); deleting the sandbox row deletes its sessions. */
export class SessionRepo {
  readonly #now: () => number;
  readonly #insert: Database.Statement;
  readonly #get: Database.Statement<[string]>;
  readonly #getByTenant: Database.Statement<[string, string]>;
  readonly #update: Database.Statement;
  readonly #delete: Database.Statement<[string]>;
  readonly #listAll: Database.Statement<[]>;
  readonly #listTenant: Database.Statement<[string]>;
  readonly #listSandbox: Database.Statement<[string]>;

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#insert = db.prepare(`INSERT INTO sessions (id, tenant, sandbox_id, state, idle_timeout_ms, detach_timeout_ms, suspend_after_ms, created_ms, last_active_ms)
      VALUES (@id, @tenant, @sandbox_id, @state, @idle, @detach, @suspend, @created, @last_active)`);
    this.#get = db.prepare('SELECT * FROM sessions WHERE id = ?');
    this.#getByTenant = db.prepare('SELECT * FROM sessions WHERE id = ? AND tenant = ?');
    this.#update = db.prepare(`UPDATE sessions SET
        state = COALESCE(@state, state),
        last_active_ms = COALESCE(@last_active, last_active_ms),
        idle_timeout_ms = COALESCE(@idle, idle_timeout_ms),
        detach_timeout_ms = COALESCE(@detach, detach_timeout_ms),
        suspend_after_ms = COALESCE(@suspend, suspend_after_ms)
      WHERE id = @id`);
    this.#delete = db.prepare('DELETE FROM sessions WHERE id = ?');
    this.#listAll = db.prepare('SELECT * FROM sessions ORDER BY created_ms, id');
    this.#listTenant = db.prepare('SELECT * FROM sessions WHERE tenant = ? ORDER BY created_ms, id');
    this.#listSandbox = db.prepare('SELECT * FROM sessions WHERE sandbox_id = ? ORDER BY created_ms, id');
  }

  insert(input: NewSession): SessionRecord {
    const created = input.createdAtMs ?? this.#now();
    this.#insert.run({
      id: input.id,
      tenant: input.tenant,
      sandbox_id: input.sandboxId,
      state: input.state,
      idle: input.idleTimeoutMs,
      detach: input.detachTimeoutMs,
      suspend: input.suspendAfterMs,
      created,
      last_active: input.lastActiveMs ?? created,
    });
    const row = this.get(input.id);
    if (row === undefined) throw new Error(`session ${input.id} vanished right after insert`);
    return row;
  }

  get(id: string): SessionRecord | undefined {
    const row = this.#get.get(id) as SessionRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  getForTenant(id: string, tenant: string): SessionRecord | undefined {
    const row = this.#getByTenant.get(id, tenant) as SessionRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  update(id: string, patch: SessionPatch): SessionRecord | undefined {
    const info = this.#update.run({
      id,
      state: patch.state ?? null,
      last_active: patch.lastActiveMs ?? null,
      idle: patch.idleTimeoutMs ?? null,
      detach: patch.detachTimeoutMs ?? null,
      suspend: patch.suspendAfterMs ?? null,
    });
    return info.changes === 0 ? undefined : this.get(id);
  }

  /** Marks activity now (or at `atMs`). */
  touch(id: string, atMs: number = this.#now()): SessionRecord | undefined {
    return this.update(id, { lastActiveMs: atMs });
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes > 0;
  }

  /** Every field narrows; `states: []` matches nothing. */
  list(filter: SessionFilter = {}): SessionRecord[] {
    if (filter.states !== undefined && filter.states.length === 0) return [];
    let rows: SessionRow[];
    if (filter.sandboxId !== undefined) rows = this.#listSandbox.all(filter.sandboxId) as SessionRow[];
    else if (filter.tenant !== undefined) rows = this.#listTenant.all(filter.tenant) as SessionRow[];
    else rows = this.#listAll.all() as SessionRow[];
    const states = filter.states === undefined ? undefined : new Set<string>(filter.states);
    return rows
      .filter((r) => (filter.tenant === undefined || r.tenant === filter.tenant) && (states === undefined || states.has(r.state)))
      .map(toRecord);
  }
}
