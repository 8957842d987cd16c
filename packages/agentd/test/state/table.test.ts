import Database from 'better-sqlite3';
import { describe, expect, test as base } from 'vitest';
import { Table, column, jsonColumn, type Columns } from '../../src/state/table.js';

interface Item {
  id: string;
  tenant: string;
  kind: string;
  tags: string[];
  note: string | null;
  createdAtMs: number;
}

const COLUMNS: Columns<Item> = {
  id: column('id'),
  tenant: column('tenant'),
  kind: column('kind'),
  tags: jsonColumn('tags', []),
  note: column('note'),
  createdAtMs: column('created_ms'),
};

const SCHEMA = `CREATE TABLE items (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, tags TEXT, note TEXT, created_ms INTEGER NOT NULL
)`;

function openDb(): Database.Database {
  const db = new Database(':memory:');
  db.exec(SCHEMA);
  return db;
}

/** `db`: a real in-memory SQLite database with an `items` table (closed after the test); `items`: a Table over it. */
const test = base.extend<{ db: Database.Database; items: Table<Item> }>({
  // eslint-disable-next-line no-empty-pattern
  db: async ({}, use) => {
    const db = openDb();
    try {
      await use(db);
    } finally {
      db.close();
    }
  },
  items: async ({ db }, use) => {
    await use(new Table(db, { name: 'items', noun: 'item', columns: COLUMNS }));
  },
});

const item = (id: string, over: Partial<Item> = {}): Item => ({ id, tenant: 'acme', kind: 'a', tags: [], note: null, createdAtMs: 10, ...over });

describe('Table', () => {
  test('insert writes each field to its column and returns the record as read back', ({ db, items }) => {
    const created = items.insert(item('i1', { tags: ['x', 'y'], note: 'hi', createdAtMs: 42 }));
    expect(created).toEqual({ id: 'i1', tenant: 'acme', kind: 'a', tags: ['x', 'y'], note: 'hi', createdAtMs: 42 });
    expect(db.prepare('SELECT * FROM items').all()).toEqual([{ id: 'i1', tenant: 'acme', kind: 'a', tags: '["x","y"]', note: 'hi', created_ms: 42 }]);
    // A NULL JSON column reads as its fallback.
    db.prepare("INSERT INTO items (id, tenant, kind, tags, note, created_ms) VALUES ('i2', 'acme', 'a', NULL, NULL, 1)").run();
    expect(items.get('i2')?.tags).toEqual([]);
  });

  test('a duplicate id throws the UNIQUE constraint and leaves the first row as it was', ({ items }) => {
    items.insert(item('i1', { kind: 'first' }));
    expect(() => items.insert(item('i1', { kind: 'second' }))).toThrow(/UNIQUE/);
    expect(items.get('i1')?.kind).toBe('first');
  });

  test('a row that is gone right after its insert is an error naming the noun and id', ({ db, items }) => {
    db.exec('CREATE TRIGGER vanish AFTER INSERT ON items BEGIN DELETE FROM items WHERE id = NEW.id; END');
    expect(() => items.insert(item('ghost'))).toThrow('item ghost vanished right after insert');
  });

  test('get finds by id; getForTenant only within the tenant', ({ items }) => {
    items.insert(item('i1', { tenant: 'acme' }));
    expect(items.get('i1')?.tenant).toBe('acme');
    expect(items.get('nope')).toBeUndefined();
    expect(items.getForTenant('i1', 'acme')?.id).toBe('i1');
    expect(items.getForTenant('i1', 'other')).toBeUndefined();
  });

  test('list is oldest first (ties by id), every given field narrows, undefined fields do not, keep filters records', ({ items }) => {
    items.insert(item('c', { createdAtMs: 5, kind: 'b' }));
    items.insert(item('b', { createdAtMs: 7, tenant: 'other' }));
    items.insert(item('a', { createdAtMs: 7, tags: ['t'] }));
    const ids = (...args: Parameters<typeof items.list>): string[] => items.list(...args).map((i) => i.id);
    expect(ids()).toEqual(['c', 'a', 'b']);
    expect(ids({ tenant: undefined, kind: undefined })).toEqual(['c', 'a', 'b']);
    expect(ids({ tenant: 'acme' })).toEqual(['c', 'a']);
    expect(ids({ tenant: 'acme', kind: 'a' })).toEqual(['a']);
    expect(ids({ tenant: 'other', kind: 'b' })).toEqual([]);
    expect(ids({}, (i) => i.tags.includes('t'))).toEqual(['a']);
  });

  test('delete says whether the row existed', ({ items }) => {
    items.insert(item('i1'));
    expect(items.delete('i1')).toBe(true);
    expect(items.delete('i1')).toBe(false);
    expect(items.get('i1')).toBeUndefined();
  });

  test('select maps the rows of a query through the columns', ({ items }) => {
    items.insert(item('old', { createdAtMs: 1, tags: ['z'] }));
    items.insert(item('new', { createdAtMs: 9 }));
    expect(items.select('SELECT * FROM items WHERE created_ms < ?', 5)).toEqual([item('old', { createdAtMs: 1, tags: ['z'] })]);
  });

  test('statements are prepared once per table instance, not shared between instances', ({ db, items }) => {
    const sql = 'SELECT COUNT(*) AS n FROM items';
    expect(items.statement(sql)).toBe(items.statement(sql));
    const other = openDb();
    try {
      const theirs = new Table(other, { name: 'items', noun: 'item', columns: COLUMNS });
      expect(theirs.statement(sql)).not.toBe(items.statement(sql));
      theirs.insert(item('only-there'));
      db.close();
      // The first database is gone; the second table still works with its own statements.
      expect(theirs.get('only-there')?.id).toBe('only-there');
      expect(() => items.get('only-there')).toThrow(/not open/);
    } finally {
      other.close();
    }
  });

  test('a table or column name that is not a plain identifier is refused before any SQL is built', ({ db }) => {
    expect(() => new Table(db, { name: 'items; DROP TABLE items', noun: 'item', columns: COLUMNS })).toThrow(/not a plain SQL identifier/);
    expect(() => new Table(db, { name: 'items', noun: 'item', columns: { ...COLUMNS, note: column('note) VALUES (1); --') } })).toThrow(/not a plain SQL identifier/);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'items'").get()).toEqual({ name: 'items' });
  });
});
