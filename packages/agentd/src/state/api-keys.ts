import type Database from 'better-sqlite3';
import type { ApiKeyFilter, ApiKeyRecord, NewApiKey } from './types.js';
import { Table, column, jsonColumn, type Columns } from './table.js';

const COLUMNS: Columns<ApiKeyRecord> = {
  id: column('id'),
  prefix: column('prefix'),
  hash: column('hash'),
  subject: column('subject'),
  tenant: column('tenant'),
  roles: jsonColumn('roles', []),
  createdAtMs: column('created_ms'),
  revokedAtMs: column('revoked_ms'),
  lastUsedMs: column('last_used_ms'),
};

/**
 * The `api_keys` table: verifiers only (see auth/api-key for the hashing scheme).
 * The secret part of a key is never stored.
 */
export class ApiKeyRepo {
  readonly #now: () => number;
  readonly #table: Table<ApiKeyRecord>;

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#table = new Table(db, { name: 'api_keys', noun: 'api key', columns: COLUMNS });
  }

  insert(input: NewApiKey): ApiKeyRecord {
    return this.#table.insert({ ...input, createdAtMs: input.createdAtMs ?? this.#now(), revokedAtMs: null, lastUsedMs: null });
  }

  get(id: string): ApiKeyRecord | undefined {
    return this.#table.get(id);
  }

  /** Marks the key revoked now; false if it does not exist or was already revoked. */
  revoke(id: string, atMs: number = this.#now()): boolean {
    return this.#table.statement('UPDATE api_keys SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL').run(atMs, id).changes > 0;
  }

  touch(id: string, atMs: number = this.#now()): void {
    this.#table.statement('UPDATE api_keys SET last_used_ms = ? WHERE id = ?').run(atMs, id);
  }

  list(filter: ApiKeyFilter = {}): ApiKeyRecord[] {
    return this.#table.list({ tenant: filter.tenant }, (r) => filter.includeRevoked === true || r.revokedAtMs === null);
  }
}
