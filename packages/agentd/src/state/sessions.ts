import type Database from 'better-sqlite3';
import type { NewSession, SessionFilter, SessionPatch, SessionRecord } from './types.js';
import { Table, column, type Columns } from './table.js';

const COLUMNS: Columns<SessionRecord> = {
  id: column('id'),
  tenant: column('tenant'),
  sandboxId: column('sandbox_id'),
  state: column('state'),
  idleTimeoutMs: column('idle_timeout_ms'),
  detachTimeoutMs: column('detach_timeout_ms'),
  suspendAfterMs: column('suspend_after_ms'),
  createdAtMs: column('created_ms'),
  lastActiveMs: column('last_active_ms'),
};

const UPDATE = `UPDATE sessions SET
    state = COALESCE(@state, state),
    last_active_ms = COALESCE(@last_active, last_active_ms),
    idle_timeout_ms = COALESCE(@idle, idle_timeout_ms),
    detach_timeout_ms = COALESCE(@detach, detach_timeout_ms),
    suspend_after_ms = COALESCE(@suspend, suspend_after_ms)
  WHERE id = @id`;

/** The `sessions` table. A session's sandbox must exist (foreign key); deleting the sandbox row deletes its sessions. */
export class SessionRepo {
  readonly #now: () => number;
  readonly #table: Table<SessionRecord>;

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#table = new Table(db, { name: 'sessions', noun: 'session', columns: COLUMNS });
  }

  insert(input: NewSession): SessionRecord {
    const created = input.createdAtMs ?? this.#now();
    return this.#table.insert({ ...input, createdAtMs: created, lastActiveMs: input.lastActiveMs ?? created });
  }

  get(id: string): SessionRecord | undefined {
    return this.#table.get(id);
  }

  getForTenant(id: string, tenant: string): SessionRecord | undefined {
    return this.#table.getForTenant(id, tenant);
  }

  update(id: string, patch: SessionPatch): SessionRecord | undefined {
    const info = this.#table.statement(UPDATE).run({
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
    return this.#table.delete(id);
  }

  /** Marks activity at `atMs` on every attached or detached session of `sandboxId` (one statement; no row read). */
  touchSandbox(sandboxId: string, atMs: number): void {
    this.#table.statement("UPDATE sessions SET last_active_ms = ? WHERE sandbox_id = ? AND state IN ('attached', 'detached')").run(atMs, sandboxId);
  }

  /** Every field narrows; `states: []` matches nothing. */
  list(filter: SessionFilter = {}): SessionRecord[] {
    if (filter.states !== undefined && filter.states.length === 0) return [];
    const states = filter.states === undefined ? undefined : new Set<string>(filter.states);
    return this.#table.list({ tenant: filter.tenant, sandboxId: filter.sandboxId }, (r) => states === undefined || states.has(r.state));
  }
}
