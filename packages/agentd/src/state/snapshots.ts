import type Database from 'better-sqlite3';
import type { NewSnapshot, SnapshotFilter, SnapshotRecord } from './types.js';

interface SnapshotRow {
  id: string;
  sandbox_id: string;
  tenant: string;
  name: string | null;
  path: string;
  size_bytes: number;
  created_ms: number;
}

function toRecord(row: SnapshotRow): SnapshotRecord {
  return {
    id: row.id,
    sandboxId: row.sandbox_id,
    tenant: row.tenant,
    name: row.name,
    path: row.path,
    sizeBytes: row.size_bytes,
    createdAtMs: row.created_ms,
  };
}

/** The `snapshots` table. Rows are independent of the sandbox row (a snapshot outlives its sandbox). */
export class SnapshotRepo {
  readonly #now: () => number;
  readonly #insert: Database.Statement;
  readonly #get: Database.Statement<[string]>;
  readonly #getByTenant: Database.Statement<[string, string]>;
  readonly #delete: Database.Statement<[string]>;
  readonly #listAll: Database.Statement<[]>;
  readonly #listTenant: Database.Statement<[string]>;
  readonly #listSandbox: Database.Statement<[string]>;

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#insert = db.prepare(`INSERT INTO snapshots (id, sandbox_id, tenant, name, path, size_bytes, created_ms)
      VALUES (@id, @sandbox_id, @tenant, @name, @path, @size_bytes, @created_ms)`);
    this.#get = db.prepare('SELECT * FROM snapshots WHERE id = ?');
    this.#getByTenant = db.prepare('SELECT * FROM snapshots WHERE id = ? AND tenant = ?');
    this.#delete = db.prepare('DELETE FROM snapshots WHERE id = ?');
    this.#listAll = db.prepare('SELECT * FROM snapshots ORDER BY created_ms, id');
    this.#listTenant = db.prepare('SELECT * FROM snapshots WHERE tenant = ? ORDER BY created_ms, id');
    this.#listSandbox = db.prepare('SELECT * FROM snapshots WHERE sandbox_id = ? ORDER BY created_ms, id');
  }

  insert(input: NewSnapshot): SnapshotRecord {
    this.#insert.run({
      id: input.id,
      sandbox_id: input.sandboxId,
      tenant: input.tenant,
      name: input.name ?? null,
      path: input.path,
      size_bytes: input.sizeBytes,
      created_ms: input.createdAtMs ?? this.#now(),
    });
    const row = this.get(input.id);
    if (row === undefined) throw new Error(`snapshot ${input.id} vanished right after insert`);
    return row;
  }

  get(id: string): SnapshotRecord | undefined {
    const row = this.#get.get(id) as SnapshotRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  getForTenant(id: string, tenant: string): SnapshotRecord | undefined {
    const row = this.#getByTenant.get(id, tenant) as SnapshotRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes > 0;
  }

  list(filter: SnapshotFilter = {}): SnapshotRecord[] {
    let rows: SnapshotRow[];
    if (filter.sandboxId !== undefined) rows = this.#listSandbox.all(filter.sandboxId) as SnapshotRow[];
    else if (filter.tenant !== undefined) rows = this.#listTenant.all(filter.tenant) as SnapshotRow[];
    else rows = this.#listAll.all() as SnapshotRow[];
    return rows.filter((r) => filter.tenant === undefined || r.tenant === filter.tenant).map(toRecord);
  }
}
