import type Database from 'better-sqlite3';
import type { NewSigningKey, SigningKeyRecord } from './types.js';
import { Table, column, jsonColumn, type Columns } from './table.js';

const COLUMNS: Columns<SigningKeyRecord> = {
  id: column('id'),
  publicKey: column('public_key'),
  subject: column('subject'),
  tenant: column('tenant'),
  roles: jsonColumn('roles', []),
  createdAtMs: column('created_ms'),
  revokedAtMs: column('revoked_ms'),
};

/** The `signing_keys` table: public keys of the signature auth provider, by key id. */
export class SigningKeyRepo {
  readonly #now: () => number;
  readonly #table: Table<SigningKeyRecord>;

  constructor(db: Database.Database, now: () => number) {
    this.#now = now;
    this.#table = new Table(db, { name: 'signing_keys', noun: 'signing key', columns: COLUMNS });
  }

  insert(input: NewSigningKey): SigningKeyRecord {
    return this.#table.insert({ ...input, createdAtMs: input.createdAtMs ?? this.#now(), revokedAtMs: null });
  }

  get(id: string): SigningKeyRecord | undefined {
    return this.#table.get(id);
  }

  revoke(id: string, atMs: number = this.#now()): boolean {
    return this.#table.statement('UPDATE signing_keys SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL').run(atMs, id).changes > 0;
  }

  list(filter: { tenant?: string; includeRevoked?: boolean } = {}): SigningKeyRecord[] {
    return this.#table.list({ tenant: filter.tenant }, (r) => filter.includeRevoked === true || r.revokedAtMs === null);
  }
}
