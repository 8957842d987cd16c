import type Database from 'better-sqlite3';
import type { NewSnapshot, SnapshotFilter, SnapshotRecord } from './types.js';
import { Table, column, type Columns } from './table.js';

const COLUMNS: Columns<SnapshotRecord> = {
  id: column('id'),
  sandboxId: column('sandbox_id'),
  tenant: column('tenant'),
  name: column('name'),
  path: column('path'),
  sizeBytes: column('size_bytes'),
  createdAtMs: column('created_ms'),
};

/** The `snapshots` table. Rows are independent of the sandbox row (a snapshot outlives its sandbox). */
export class SnapshotRepo {
  readonly #now: () => number;
  readonly #table: Table<SnapshotRecord>;

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#table = new Table(db, { name: 'snapshots', noun: 'snapshot', columns: COLUMNS });
  }

  insert(input: NewSnapshot): SnapshotRecord {
    return this.#table.insert({ ...input, name: input.name ?? null, createdAtMs: input.createdAtMs ?? this.#now() });
  }

  get(id: string): SnapshotRecord | undefined {
    return this.#table.get(id);
  }

  getForTenant(id: string, tenant: string): SnapshotRecord | undefined {
    return this.#table.getForTenant(id, tenant);
  }

  delete(id: string): boolean {
    return this.#table.delete(id);
  }

  list(filter: SnapshotFilter = {}): SnapshotRecord[] {
    return this.#table.list({ tenant: filter.tenant, sandboxId: filter.sandboxId });
  }
}
