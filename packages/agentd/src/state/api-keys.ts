import type Database from 'better-sqlite3';
import type { ApiKeyFilter, ApiKeyRecord, NewApiKey } from './types.js';
import { parseJson } from './json.js';

interface ApiKeyRow {
  id: string;
  prefix: string;
  hash: string;
  subject: string;
  tenant: string;
  roles: string;
  created_ms: number;
  revoked_ms: number | null;
  last_used_ms: number | null;
}

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    prefix: row.prefix,
    hash: row.hash,
    subject: row.subject,
    tenant: row.tenant,
    roles: parseJson<string[]>(row.roles, []),
    createdAtMs: row.created_ms,
    revokedAtMs: row.revoked_ms,
    lastUsedMs: row.last_used_ms,
  };
}

/**
 * The `api_keys` table: verifiers only (see auth/api-key for the hashing scheme).
 * The secret part of a key is never stored.
 */
export class ApiKeyRepo {
  readonly #now: () => number;
  readonly #insert: Database.Statement;
  readonly #get: Database.Statement<[string]>;
  readonly #revoke: Database.Statement<[number, string]>;
  readonly #touch: Database.Statement<[number, string]>;
  readonly #listAll: Database.Statement<[]>;
  readonly #listTenant: Database.Statement<[string]>;

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#insert = db.prepare(`INSERT INTO api_keys (id, prefix, hash, subject, tenant, roles, created_ms, revoked_ms, last_used_ms)
      VALUES (@id, @prefix, @hash, @subject, @tenant, @roles, @created_ms, NULL, NULL)`);
    this.#get = db.prepare('SELECT * FROM api_keys WHERE id = ?');
    this.#revoke = db.prepare('UPDATE api_keys SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL');
    this.#touch = db.prepare('UPDATE api_keys SET last_used_ms = ? WHERE id = ?');
    this.#listAll = db.prepare('SELECT * FROM api_keys ORDER BY created_ms, id');
    this.#listTenant = db.prepare('SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_ms, id');
  }

  insert(input: NewApiKey): ApiKeyRecord {
    this.#insert.run({
      id: input.id,
      prefix: input.prefix,
      hash: input.hash,
      subject: input.subject,
      tenant: input.tenant,
      roles: JSON.stringify(input.roles),
      created_ms: input.createdAtMs ?? this.#now(),
    });
    const row = this.get(input.id);
    if (row === undefined) throw new Error(`api key ${input.id} vanished right after insert`);
    return row;
  }

  get(id: string): ApiKeyRecord | undefined {
    const row = this.#get.get(id) as ApiKeyRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  /** Marks the key revoked now; false if it does not exist or was already revoked. */
  revoke(id: string, atMs: number = this.#now()): boolean {
    return this.#revoke.run(atMs, id).changes > 0;
  }

  touch(id: string, atMs: number = this.#now()): void {
    this.#touch.run(atMs, id);
  }

  list(filter: ApiKeyFilter = {}): ApiKeyRecord[] {
    const rows = (filter.tenant === undefined ? this.#listAll.all() : this.#listTenant.all(filter.tenant)) as ApiKeyRow[];
    return rows.filter((r) => filter.includeRevoked === true || r.revoked_ms === null).map(toRecord);
  }
}
