import type Database from 'better-sqlite3';
import type { NewSandbox, SandboxFilter, SandboxPatch, SandboxRecord, SandboxState } from './types.js';
import { Table, column, jsonColumn, type Columns } from './table.js';

const COLUMNS: Columns<SandboxRecord> = {
  id: column('id'),
  tenant: column('tenant'),
  backend: column('backend'),
  profile: column('profile'),
  state: column('state'),
  spec: jsonColumn('spec', null),
  labels: jsonColumn('labels', {}),
  createdAtMs: column('created_ms'),
  updatedAtMs: column('updated_ms'),
  expiresAtMs: column('expires_ms'),
  lastError: column('last_error'),
};

const UPDATE = `UPDATE sandboxes SET
    state = COALESCE(@state, state),
    spec = COALESCE(@spec, spec),
    labels = COALESCE(@labels, labels),
    expires_ms = CASE WHEN @set_expires THEN @expires_ms ELSE expires_ms END,
    last_error = CASE WHEN @set_error THEN @last_error ELSE last_error END,
    updated_ms = @updated_ms
  WHERE id = @id`;
const EXPIRED = "SELECT * FROM sandboxes WHERE expires_ms IS NOT NULL AND expires_ms <= ? AND state NOT IN ('destroyed', 'destroying') ORDER BY expires_ms";
const COUNT_BY_STATE = 'SELECT state, COUNT(*) AS n FROM sandboxes GROUP BY state';

/** The `sandboxes` table. */
export class SandboxRepo {
  readonly #now: () => number;
  readonly #table: Table<SandboxRecord>;
  #generation = 0;

  /** Bumped by every insert, update and delete made here: a reader's cache of a row is current while it is unchanged. */
  get generation(): number {
    return this.#generation;
  }

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#table = new Table(db, { name: 'sandboxes', noun: 'sandbox', columns: COLUMNS });
  }

  /** Inserts a new sandbox; a duplicate id throws (SQLite UNIQUE constraint). */
  insert(input: NewSandbox): SandboxRecord {
    const created = input.createdAtMs ?? this.#now();
    this.#generation++;
    return this.#table.insert({ ...input, labels: input.labels ?? {}, createdAtMs: created, updatedAtMs: created, expiresAtMs: input.expiresAtMs ?? null, lastError: null });
  }

  get(id: string): SandboxRecord | undefined {
    return this.#table.get(id);
  }

  /** The sandbox only if it belongs to `tenant` (callers turn undefined into 404 NOT_FOUND). */
  getForTenant(id: string, tenant: string): SandboxRecord | undefined {
    return this.#table.getForTenant(id, tenant);
  }

  /** Applies `patch`; returns the new record, or undefined when no sandbox has this id. */
  update(id: string, patch: SandboxPatch): SandboxRecord | undefined {
    this.#generation++;
    const info = this.#table.statement(UPDATE).run({
      id,
      state: patch.state ?? null,
      spec: patch.spec === undefined ? null : JSON.stringify(patch.spec),
      labels: patch.labels === undefined ? null : JSON.stringify(patch.labels),
      set_expires: patch.expiresAtMs === undefined ? 0 : 1,
      expires_ms: patch.expiresAtMs ?? null,
      set_error: patch.lastError === undefined ? 0 : 1,
      last_error: patch.lastError ?? null,
      updated_ms: this.#now(),
    });
    return info.changes === 0 ? undefined : this.get(id);
  }

  setState(id: string, state: SandboxState, lastError?: string | null): SandboxRecord | undefined {
    return this.update(id, lastError === undefined ? { state } : { state, lastError });
  }

  /** Removes the row (and, by foreign key, its sessions). Returns whether it existed. */
  delete(id: string): boolean {
    this.#generation++;
    return this.#table.delete(id);
  }

  /** See SandboxFilter for what each field means. */
  list(filter: SandboxFilter = {}): SandboxRecord[] {
    if (filter.states !== undefined && filter.states.length === 0) return [];
    const states = filter.states === undefined ? undefined : new Set<string>(filter.states);
    const labels = Object.entries(filter.labels ?? {});
    return this.#table.list(
      { tenant: filter.tenant, backend: filter.backend },
      (r) => (states === undefined || states.has(r.state)) && labels.every(([k, v]) => r.labels[k] === v),
    );
  }

  /** Sandboxes whose TTL passed at `nowMs` and that are not destroyed yet, soonest first. */
  listExpired(nowMs: number = this.#now()): SandboxRecord[] {
    return this.#table.select(EXPIRED, nowMs);
  }

  countByState(): Partial<Record<SandboxState, number>> {
    const out: Partial<Record<SandboxState, number>> = {};
    for (const row of this.#table.statement(COUNT_BY_STATE).all() as Array<{ state: SandboxState; n: number }>) out[row.state] = row.n;
    return out;
  }
}
