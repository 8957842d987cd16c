import type Database from 'better-sqlite3';
import { parseJson } from './json.js';

/** How one record field is stored: its column, and the conversion each way. */
export interface Column<V> {
  readonly name: string;
  read(raw: unknown): V;
  write(value: V): unknown;
}

/** A column stored as it is (text, integer, or NULL). */
export function column<V>(name: string): Column<V> {
  return { name, read: (raw) => raw as V, write: (value) => value };
}

/** A column holding JSON text; NULL reads as `fallback`, and an absent value is written as `fallback`. */
export function jsonColumn<V>(name: string, fallback: V): Column<V> {
  return { name, read: (raw) => parseJson(raw as string | null, fallback), write: (value) => JSON.stringify(value ?? fallback) };
}

/** Every field of a record with its column: the whole row→record (and record→row) mapping of a table. */
export type Columns<Rec> = { readonly [K in keyof Rec]-?: Column<Rec[K]> };

/**
 * Fields to match, by record field name. An entry whose value is `undefined` is left out
 * (no filter on that field); `{}` matches every row.
 */
export type Where<Rec> = { [K in keyof Rec]?: Rec[K] | undefined };

/** What every record table has: a text primary key, the owning tenant and a creation time. */
export interface BaseRecord {
  id: string;
  tenant: string;
  createdAtMs: number;
}

export interface TableSpec<Rec> {
  /** The table's name: a constant in code, never input. */
  name: string;
  /** What one row is called in messages ("sandbox", "api key"). */
  noun: string;
  columns: Columns<Rec>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** A table or column name from code; anything else would be spliced into SQL, so it is refused. */
function identifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`'${name}' is not a plain SQL identifier`);
  return name;
}

/**
 * One record table over better-sqlite3: reads by id (optionally scoped to a tenant),
 * insert-then-read-back, listing oldest first, delete by id. Statements are prepared on
 * first use and kept by this instance, keyed by their SQL text; repositories prepare their
 * own updates and queries through `statement()` so they are cached the same way.
 */
export class Table<Rec extends BaseRecord> {
  readonly #db: Database.Database;
  readonly #name: string;
  readonly #noun: string;
  readonly #columns: Columns<Rec>;
  readonly #fields: ReadonlyArray<keyof Rec>;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database, spec: TableSpec<Rec>) {
    this.#db = db;
    this.#name = identifier(spec.name);
    this.#noun = spec.noun;
    this.#columns = spec.columns;
    this.#fields = Object.keys(spec.columns) as Array<keyof Rec>;
    for (const field of this.#fields) identifier(spec.columns[field].name);
  }

  /** The prepared statement for `sql` (prepared once per table instance). */
  statement(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  get(id: string): Rec | undefined {
    return this.#find({ id } as Where<Rec>);
  }

  /** The record only if it belongs to `tenant`. */
  getForTenant(id: string, tenant: string): Rec | undefined {
    return this.#find({ id, tenant } as Where<Rec>);
  }

  /** Inserts `record` (every field given) and returns it as read back; a duplicate id throws (UNIQUE constraint). */
  insert(record: Rec): Rec {
    const names = this.#fields.map((f) => this.#columns[f].name);
    const row = Object.fromEntries(this.#fields.map((f) => [this.#columns[f].name, this.#columns[f].write(record[f])]));
    this.statement(`INSERT INTO ${this.#name} (${names.join(', ')}) VALUES (${names.map((n) => `@${n}`).join(', ')})`).run(row);
    const read = this.get(record.id);
    if (read === undefined) throw new Error(`${this.#noun} ${record.id} vanished right after insert`);
    return read;
  }

  /** Removes the row; returns whether it existed. */
  delete(id: string): boolean {
    return this.statement(`DELETE FROM ${this.#name} WHERE ${this.#columns.id.name} = ?`).run(id).changes > 0;
  }

  /** Records matching `where`, oldest first (creation time, then id), keeping only those `keep` accepts. */
  list(where: Where<Rec> = {}, keep: (record: Rec) => boolean = () => true): Rec[] {
    const [clause, values] = this.#where(where);
    const order = `${this.#columns.createdAtMs.name}, ${this.#columns.id.name}`;
    return this.select(`SELECT * FROM ${this.#name}${clause} ORDER BY ${order}`, ...values).filter(keep);
  }

  /** The records a query on this table returns (it must select every column). */
  select(sql: string, ...params: unknown[]): Rec[] {
    return (this.statement(sql).all(...params) as Array<Record<string, unknown>>).map((row) => this.#toRecord(row));
  }

  #find(where: Where<Rec>): Rec | undefined {
    const [clause, values] = this.#where(where);
    const row = this.statement(`SELECT * FROM ${this.#name}${clause}`).get(...values) as Record<string, unknown> | undefined;
    return row === undefined ? undefined : this.#toRecord(row);
  }

  #toRecord(row: Record<string, unknown>): Rec {
    const record: Partial<Record<keyof Rec, unknown>> = {};
    for (const field of this.#fields) record[field] = this.#columns[field].read(row[this.#columns[field].name]);
    return record as Rec;
  }

  #where(where: Where<Rec>): [string, unknown[]] {
    const used = this.#fields.filter((f) => where[f] !== undefined);
    if (used.length === 0) return ['', []];
    const clause = used.map((f) => `${this.#columns[f].name} = ?`).join(' AND ');
    return [` WHERE ${clause}`, used.map((f) => this.#columns[f].write(where[f] as Rec[typeof f]))];
  }
}
