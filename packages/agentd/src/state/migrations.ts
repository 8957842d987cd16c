import type Database from 'better-sqlite3';

/**
 * Schema migrations, applied in order, each exactly once. A migration never changes after
 * it is released: add a new one instead. `schema_version` holds the versions applied.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sandboxes, sessions, snapshots, audit events, idempotency keys, api keys',
    sql: `
      CREATE TABLE sandboxes (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        backend TEXT NOT NULL,
        profile TEXT NOT NULL,
        state TEXT NOT NULL,
        spec TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        last_error TEXT
      ) STRICT;
      CREATE INDEX sandboxes_tenant_state ON sandboxes (tenant, state);
      CREATE INDEX sandboxes_state ON sandboxes (state);
      CREATE INDEX sandboxes_expires ON sandboxes (expires_ms) WHERE expires_ms IS NOT NULL;

      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        sandbox_id TEXT NOT NULL REFERENCES sandboxes (id) ON DELETE CASCADE,
        state TEXT NOT NULL,
        idle_timeout_ms INTEGER NOT NULL,
        detach_timeout_ms INTEGER NOT NULL,
        suspend_after_ms INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        last_active_ms INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX sessions_tenant ON sessions (tenant);
      CREATE INDEX sessions_sandbox ON sessions (sandbox_id);
      CREATE INDEX sessions_state ON sessions (state);

      -- No foreign key to sandboxes: a snapshot outlives its sandbox (fork from it later).
      CREATE TABLE snapshots (
        id TEXT PRIMARY KEY,
        sandbox_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        name TEXT,
        path TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        created_ms INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX snapshots_tenant ON snapshots (tenant);
      CREATE INDEX snapshots_sandbox ON snapshots (sandbox_id);

      CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts_ms INTEGER NOT NULL,
        subject TEXT,
        tenant TEXT,
        action TEXT NOT NULL,
        capability TEXT,
        sandbox_id TEXT,
        intent_id TEXT,
        status TEXT NOT NULL,
        code TEXT,
        duration_ms INTEGER,
        details TEXT NOT NULL DEFAULT '{}'
      ) STRICT;
      CREATE INDEX audit_ts ON audit_events (ts_ms);
      CREATE INDEX audit_tenant_ts ON audit_events (tenant, ts_ms);
      CREATE INDEX audit_sandbox ON audit_events (sandbox_id) WHERE sandbox_id IS NOT NULL;

      CREATE TABLE idempotency (
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        state TEXT NOT NULL,
        response TEXT,
        created_ms INTEGER NOT NULL,
        completed_ms INTEGER,
        expires_ms INTEGER NOT NULL,
        PRIMARY KEY (tenant, subject, key)
      ) STRICT;
      CREATE INDEX idempotency_expires ON idempotency (expires_ms);
      CREATE INDEX idempotency_state ON idempotency (state);

      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        prefix TEXT NOT NULL,
        hash TEXT NOT NULL,
        subject TEXT NOT NULL,
        tenant TEXT NOT NULL,
        roles TEXT NOT NULL DEFAULT '[]',
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER,
        last_used_ms INTEGER
      ) STRICT;
      CREATE INDEX api_keys_tenant ON api_keys (tenant);
    `,
  },
  {
    version: 2,
    description: 'signing keys (Ed25519 public keys of signed requests)',
    sql: `
      CREATE TABLE signing_keys (
        id TEXT PRIMARY KEY,
        public_key TEXT NOT NULL,
        subject TEXT NOT NULL,
        tenant TEXT NOT NULL,
        roles TEXT NOT NULL DEFAULT '[]',
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
      ) STRICT;
      CREATE INDEX signing_keys_tenant ON signing_keys (tenant);
    `,
  },
  {
    version: 3,
    description: 'commands (durable execs: record, exit, last output) so a restart lists them as lost',
    sql: `
      -- No foreign key to sandboxes: a command's record outlives its sandbox for commands.keep_exited_ms.
      CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        sandbox_id TEXT NOT NULL,
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        argv TEXT NOT NULL,
        pty INTEGER NOT NULL DEFAULT 0,
        pid INTEGER,
        state TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        exit_code INTEGER,
        signal TEXT,
        error TEXT,
        end_offset INTEGER NOT NULL DEFAULT 0,
        tail BLOB NOT NULL DEFAULT x''
      ) STRICT;
      CREATE INDEX commands_sandbox ON commands (sandbox_id);
      CREATE INDEX commands_state ON commands (state);
    `,
  },
  {
    version: 5,
    description: 'e2b sandboxes (the E2B plane: template, metadata, access tokens, creator key, timeout, auto-pause)',
    sql: `
      -- No foreign key: the row is deleted with the sandbox by the E2B plane (and orphans are ignored).
      CREATE TABLE e2b_sandboxes (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        key_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        roles TEXT NOT NULL DEFAULT '[]',
        template_id TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        access_token TEXT NOT NULL,
        traffic_token TEXT NOT NULL,
        timeout_ms INTEGER NOT NULL,
        auto_pause INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX e2b_sandboxes_tenant ON e2b_sandboxes (tenant);
    `,
  },
];

/** The highest version a migration list reaches. */
export function latestVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

/**
 * Applies every migration not applied yet, each in its own transaction (all-or-nothing per
 * version). Running it again is a no-op. Returns the versions applied by this call.
 * A database newer than this code (a version we do not know) is refused rather than used.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS, now: () => number = Date.now): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_ms INTEGER NOT NULL
  ) STRICT`);
  const appliedRows = db.prepare('SELECT version FROM schema_version ORDER BY version').all() as Array<{ version: number }>;
  const applied = new Set(appliedRows.map((r) => r.version));
  const known = latestVersion(migrations);
  const newest = appliedRows.at(-1)?.version ?? 0;
  if (newest > known) {
    throw new Error(`state database schema version ${newest} is newer than this agentd (knows up to ${known}); refusing to use it`);
  }
  const insert = db.prepare('INSERT INTO schema_version (version, description, applied_ms) VALUES (?, ?, ?)');
  const done: number[] = [];
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  for (const m of ordered) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      insert.run(m.version, m.description, now());
    }).immediate();
    done.push(m.version);
  }
  return done;
}
