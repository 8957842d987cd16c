import type Database from 'better-sqlite3';
import type { NewSigningKey, SigningKeyRecord } from './types.js';
import { parseJson } from './json.js';

interface SigningKeyRow {
  id: string;
  public_key: string;
  subject: string;
  tenant: string;
  roles: string;
  created_ms: number;
  revoked_ms: number | null;
}

function toRecord(row: SigningKeyRow): SigningKeyRecord {
  return {
    id: row.id,
    publicKey: row.public_key,
    subject: row.subject,
    tenant: row.tenant,
    roles: parseJson<string[]>(row.roles, []),
    createdAtMs: row.created_ms,
    revokedAtMs: row.revoked_ms,
  };
}

/** The `signing_keys` table: public keys of the signature auth provider, by key id. */
export class SigningKeyRepo {
  readonly #now: () => number;
  readonly #insert: Database.Statement;
  readonly #get: Database.Statement<[string]>;
  readonly #revoke: Database.Statement<[number, string]>;
  readonly #listAll: Database.Statement<[]>;
  readonly #listTenant: Database.Statement<[string]>;

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#insert = db.prepare(`INSERT INTO signing_keys (id, public_key, subject, tenant, roles, created_ms, revoked_ms)
      VALUES (@id, @public_key, @subject, @tenant, @roles, @created_ms, NULL)`);
    this.#get = db.prepare('SELECT * FROM signing_keys WHERE id = ?');
    this.#revoke = db.prepare('UPDATE signing_keys SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL');
    this.#listAll = db.prepare('SELECT * FROM signing_keys ORDER BY created_ms, id');
    this.#listTenant = db.prepare('SELECT * FROM signing_keys WHERE tenant = ? ORDER BY created_ms, id');
  }

  insert(input: NewSigningKey): SigningKeyRecord {
    this.#insert.run({
      id: input.id,
      public_key: input.publicKey,
      subject: input.subject,
      tenant: input.tenant,
      roles: JSON.stringify(input.roles),
      created_ms: input.createdAtMs ?? this.#now(),
    });
    const row = this.get(input.id);
    if (row === undefined) throw new Error(`signing key ${input.id} vanished right after insert`);
    return row;
  }

  get(id: string): SigningKeyRecord | undefined {
    const row = this.#get.get(id) as SigningKeyRow | undefined;
    return row === undefined ? undefined : toRecord(row);
  }

  revoke(id: string, atMs: number = this.#now()): boolean {
    return this.#revoke.run(atMs, id).changes > 0;
  }

  list(filter: { tenant?: string; includeRevoked?: boolean } = {}): SigningKeyRecord[] {
    const rows = (filter.tenant === undefined ? this.#listAll.all() : this.#listTenant.all(filter.tenant)) as SigningKeyRow[];
    return rows.filter((r) => filter.includeRevoked === true || r.revoked_ms === null).map(toRecord);
  }
}
