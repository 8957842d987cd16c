import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { MIGRATIONS, latestVersion, migrate, openStateStore, STATE_DB_FILE, type StateStore } from '../../src/state/index.js';

let home: string;
const opened: StateStore[] = [];

function open(extra: Partial<Parameters<typeof openStateStore>[0]> = {}): StateStore {
  const store = openStateStore({ home, ...extra });
  opened.push(store);
  return store;
}

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'agentd-state-'));
});

afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  rmSync(home, { recursive: true, force: true });
});

describe('opening and migrations', () => {
  test('a fresh database gets every migration, WAL mode and foreign keys', () => {
    const store = open();
    expect(store.path).toBe(join(home, STATE_DB_FILE));
    expect(store.schemaVersion()).toBe(latestVersion());
    expect(store.journalMode()).toBe('wal');
    const db = new Database(store.path, { readonly: true });
    try {
      const versions = (db.prepare('SELECT version FROM schema_version ORDER BY version').all() as Array<{ version: number }>).map((r) => r.version);
      expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name);
      expect(tables).toEqual(expect.arrayContaining(['sandboxes', 'sessions', 'snapshots', 'audit_events', 'idempotency', 'api_keys', 'signing_keys']));
    } finally {
      db.close();
    }
    expect(store.healthy()).toBe(true);
  });

  test('the database and its WAL are readable by the owner only', () => {
    const store = open();
    store.sandboxes.insert({ id: 's', tenant: 't', backend: 'b', profile: 'server', state: 'running', spec: {} });
    for (const file of [store.path, `${store.path}-wal`, `${store.path}-shm`]) {
      expect((statSync(file).mode & 0o777).toString(8), file).toBe('600');
    }
  });

  test('an existing database at an older version is migrated forward, keeping its rows; reopening applies nothing', () => {
    // A database as agentd with only migration 1 left it.
    const old = new Database(join(home, STATE_DB_FILE));
    old.pragma('journal_mode = WAL');
    expect(migrate(old, MIGRATIONS.filter((m) => m.version === 1))).toEqual([1]);
    old.prepare(`INSERT INTO sandboxes (id, tenant, backend, profile, state, spec, labels, created_ms, updated_ms)
      VALUES ('sbx-old', 't1', 'namespace', 'server', 'running', '{"a":1}', '{}', 1, 1)`).run();
    old.close();

    const logged: unknown[] = [];
    const logger = { debug() {}, info: (o: object | string) => logged.push(o), warn() {}, error() {} };
    const store = openStateStore({ home, logger });
    expect(store.schemaVersion()).toBe(latestVersion());
    expect(logged).toEqual([expect.objectContaining({ applied: MIGRATIONS.filter((m) => m.version > 1).map((m) => m.version) })]);
    expect(store.sandboxes.get('sbx-old')?.spec).toEqual({ a: 1 });
    store.close();

    logged.length = 0;
    const again = open({ logger });
    expect(logged).toEqual([]);
    expect(again.schemaVersion()).toBe(latestVersion());
  });

  test('a database written by a newer agentd is refused, not used', () => {
    open().close();
    opened.length = 0;
    const db = new Database(join(home, STATE_DB_FILE));
    db.prepare('INSERT INTO schema_version (version, description, applied_ms) VALUES (?, ?, ?)').run(latestVersion() + 1, 'future', 0);
    db.close();
    expect(() => openStateStore({ home })).toThrow(/newer than this agentd/);
  });

  test('a failing migration leaves no half-applied version', () => {
    const broken = [...MIGRATIONS, { version: 99, description: 'broken', sql: 'CREATE TABLE x (a INTEGER); CREATE TABLE x (b INTEGER);' }];
    expect(() => openStateStore({ home, migrations: broken })).toThrow(/already exists/);
    const store = open();
    expect(store.schemaVersion()).toBe(latestVersion());
    const db = new Database(store.path, { readonly: true });
    try {
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'x'").get()).toBeUndefined();
    } finally {
      db.close();
    }
  });
});

describe('durability', () => {
  test('a store dropped without close() leaves its committed rows readable by the next opener', () => {
    const a = openStateStore({ home });
    a.sandboxes.insert({ id: 'sbx-1', tenant: 't', backend: 'namespace', profile: 'server', state: 'running', spec: {} });
    // No close(): the WAL has not been checkpointed into the main file.
    const b = open();
    expect(b.sandboxes.get('sbx-1')?.state).toBe('running');
    a.close();
  });

  test('rows committed by a process killed with SIGKILL survive; recovery marks their sandboxes stopped', async () => {
    open().close();
    opened.length = 0;
    const sqlitePath = createRequire(import.meta.url).resolve('better-sqlite3');
    const script = join(home, 'writer.cjs');
    writeFileSync(
      script,
      `const Database = require(${JSON.stringify(sqlitePath)});
       const db = new Database(process.argv[2]);
       db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL'); db.pragma('foreign_keys = ON');
       const ins = db.prepare("INSERT INTO sandboxes (id, tenant, backend, profile, state, spec, labels, created_ms, updated_ms) VALUES (?, 't', 'namespace', 'server', ?, '{}', '{}', 1, 1)");
       ins.run('sbx-run', 'running'); ins.run('sbx-sus', 'suspended'); ins.run('sbx-new', 'creating'); ins.run('sbx-stop', 'stopped');
       db.prepare("INSERT INTO sessions (id, tenant, sandbox_id, state, idle_timeout_ms, detach_timeout_ms, suspend_after_ms, created_ms, last_active_ms) VALUES ('ses-1', 't', 'sbx-run', 'attached', 1, 1, 1, 1, 1)").run();
       db.prepare("INSERT INTO idempotency (tenant, subject, key, request_hash, state, created_ms, expires_ms) VALUES ('t', 's', 'k', 'h', 'in_flight', 1, 9999999999999)").run();
       process.stdout.write('written\\n');
       setInterval(() => {}, 1000);`,
    );
    const child = spawn(process.execPath, [script, join(home, STATE_DB_FILE)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('written')) resolve(); });
        child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
      });
    } finally {
      child.kill('SIGKILL');
    }
    const [, signal] = (await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (...a) => resolve(a))));
    expect(signal).toBe('SIGKILL');

    let clock = 5000;
    const store = open({ now: () => clock });
    expect(store.sandboxes.list().map((s) => s.id).sort()).toEqual(['sbx-new', 'sbx-run', 'sbx-stop', 'sbx-sus']);
    clock = 6000;
    const report = store.markAllRunningAsStopped();
    expect(report.sandboxIds.sort()).toEqual(['sbx-new', 'sbx-run', 'sbx-sus']);
    expect(report.sessionsDetached).toBe(1);
    expect(report.claimsInterrupted).toBe(1);
    expect(store.sandboxes.list().every((s) => s.state === 'stopped')).toBe(true);
    expect(store.sandboxes.get('sbx-new')?.lastError).toMatch(/creation interrupted/);
    expect(store.sandboxes.get('sbx-run')?.lastError).toBeNull();
    expect(store.sandboxes.get('sbx-run')?.updatedAtMs).toBe(6000);
    expect(store.sessions.get('ses-1')).toMatchObject({ state: 'detached', lastActiveMs: 6000 });
    // The cut request is never run again under its key: a retry is told it was interrupted.
    expect(store.idempotency.claim({ tenant: 't', subject: 's', key: 'k' }, 'h')).toEqual({ kind: 'interrupted', claimedAtMs: 1, interruptedAtMs: 6000 });
    expect(store.idempotency.complete({ tenant: 't', subject: 's', key: 'k' }, { ok: true })).toBe(false);
    // A second recovery finds nothing left to stop.
    expect(store.markAllRunningAsStopped()).toEqual({ sandboxIds: [], sessionsDetached: 0, claimsInterrupted: 0 });
  });
});
