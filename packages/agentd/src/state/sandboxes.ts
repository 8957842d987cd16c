import type Database from 'better-sqlite3';
import type { NewSandbox, SandboxFilter, SandboxPatch, SandboxRecord, SandboxState } from './types.js';
import { parseJson } from './json.js';

interface SandboxRow {
  id: string;
  tenant: string;
  backend: string;
  profile: string;
  state: string;
  spec: string;
  labels: string;
  created_ms: number;
  updated_ms: number;
  expires_ms: number | null;
  last_error: string | null;
}

function toRecord(row: SandboxRow): SandboxRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    backend: row.backend,
    profile: row.profile,
    state: row.state as SandboxState,
    spec: parseJson<unknown>(row.spec, null),
    labels: parseJson<Record<string, string>>(row.labels, {}),
    createdAtMs: row.created_ms,
    updatedAtMs: row.updated_ms,
    expiresAtMs: row.expires_ms,
    lastError: row.last_error,
  };
}

/** The `sandboxes` table. */
export class SandboxRepo {
  readonly #now: () => number;
  readonly #insert: Database.Statement;
  readonly #get: Database.Statement<[string]>;
  readonly #getByTenant: Database.Statement<[string, string]>;
  readonly #update: Database.Statement;
  readonly #delete: Database.Statement<[string]>;
  readonly #expired: Database.Statement<[number]>;
  readonly #listAll: Database.Statement<[]>;
  readonly #listTenant: Database.Statement<[string]>;
  readonly #countByState: Database.Statement<[]>;

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#insert = db.prepare(`INSERT INTO sandboxes (id, tenant, backend, profile, state, spec, labels, created_ms, updated_ms, expires_ms, last_error)
      VALUES (@id, @tenant, @backend, @profile, @state, @spec, @labels, @created_ms, @created_ms, @expires_ms, NULL)`);
    this.#get = db.prepare('SELECT * FROM sandboxes WHERE id = ?');
    this.#getByTenant = db.prepare('SELECT * FROM sandboxes WHERE id = ? AND tenant = ?');
    this.#update = db.prepare(`UPDATE sandboxes SET
        state = COALESCE(@state, state),
        spec = COALESCE(@spec, spec),
        labels = COALESCE(@labels, labels),
        expires_ms = CASE WHEN @set_expires THEN @expires_ms ELSE expires_ms END,
        last_error = CASE WHEN @set_error THEN @last_error ELSE last_error END,
        updated_ms = @updated_ms
      WHERE id = @id`);
    this.#delete = db.prepare('DELETE FROM sandboxes WHERE id = ?');
    this.#expired = db.prepare(
      "SELECT * FROM sandboxes WHERE expires_ms IS NOT NULL AND expires_ms <= ? AND state NOT IN ('destroyed') ORDER BY expires_ms",
    );
    this.#listAll = db.prepare('SELECT * FROM sandboxes ORDER BY created_ms, id');
    this.#listTenant = db.prepare('SELECT * FROM sandboxes WHERE tenant = ? ORDER BY created_ms, id');
    this.#countByState = db.prepare('SELECT state, COUNT(*) AS n FROM sandboxes GROUP BY state');
  }

  /** Inserts a new sandbox; a duplicate id throws (SQLite UNIQUE constraint). */
  insert(input: NewSandbox): SandboxRecord {
    const created = input.createdAtMs ?? this.#now();
    this.#insert.run({
      id: input.id,
      tenant: input.tenant,
      backend: input.backend,
      profile: input.profile,
      state: input.state,
      spec: JSON.stringify(input.spec ?? null),
      labels: JSON.stringify(input.labels ?? {}),
      created_ms: created,
      expires_ms: input.expiresAtMs ?? null,
    });
    const row = this.get(input.id);
    if (row === undefined) throw new Error(`sandbox ${input.id} vanished right after insert`);
    return row;
  }

  get(id: string): SandboxRecord | undefined {
    const row = this.#get.get(id) as SandboxRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  /** The sandbox only if it belongs to `tenant` (callers turn undefined into 404 NOT_FOUND). */
  getForTenant(id: string, tenant: string): SandboxRecord | undefined {
    const row = this.#getByTenant.get(id, tenant) as SandboxRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  /** Applies `patch`; returns the new record, or undefined when no sandbox has this id. */
  update(id: string, patch: SandboxPatch): SandboxRecord | undefined {
    const info = this.#update.run({
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
    return this.#delete.run(id).changes > 0;
  }

  /** See SandboxFilter for what each field means. */
  list(filter: SandboxFilter = {}): SandboxRecord[] {
    if (filter.states !== undefined && filter.states.length === 0) return [];
    const rows = (filter.tenant === undefined ? this.#listAll.all() : this.#listTenant.all(filter.tenant)) as SandboxRow[];
    const states = filter.states === undefined ? undefined : new Set<string>(filter.states);
    const labels = Object.entries(filter.labels ?? {});
    return rows
      .filter((r) => (states === undefined || states.has(r.state)) && (filter.backend === undefined || r.backend === filter.backend))
      .map(toRecord)
      .filter((r) => labels.every(([k, v]) => r.labels[k] === v));
  }

  /** Sandboxes whose TTL passed at `nowMs` and that are not destroyed yet, soonest first. */
  listExpired(nowMs: number = this.#now()): SandboxRecord[] {
    return (this.#expired.all(nowMs) as SandboxRow[]).map(toRecord);
  }

  countByState(): Partial<Record<SandboxState, number>> {
    const out: Partial<Record<SandboxState, number>> = {};
    for (const row of this.#countByState.all() as Array<{ state: SandboxState; n: number }>) out[row.state] = row.n;
    return out;
  }
}
