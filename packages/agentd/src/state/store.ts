import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AgentdError } from '../core/errors.js';
import type { Logger } from '../util/logger.js';
import { ApiKeyRepo } from './api-keys.js';
import { AuditRepo } from './audit.js';
import { CommandRepo } from './commands.js';
import { E2bSandboxRepo } from './e2b-sandboxes.js';
import { IdempotencyRepo } from './idempotency.js';
import { MIGRATIONS, latestVersion, migrate, type Migration } from './migrations.js';
import { SandboxRepo } from './sandboxes.js';
import { SessionRepo } from './sessions.js';
import { SigningKeyRepo } from './signing-keys.js';
import { SnapshotRepo } from './snapshots.js';
import type { RecoveryReport } from './types.js';

export interface StateStoreOptions {
  /** `$AGENTD_HOME`: the database is `<home>/state.db` (the folder is created 0700 if missing). */
  home: string;
  /** Another database file instead of `<home>/state.db`; ":memory:" for a throwaway store. */
  path?: string;
  /** How long a write waits for a lock held by another connection (default 5000 ms). */
  busyTimeoutMs?: number;
  /** Clock in epoch ms (tests pass a fake one). */
  now?: () => number;
  logger?: Logger;
  /** Migrations to apply (tests only; default: the real list). */
  migrations?: readonly Migration[];
}

export const STATE_DB_FILE = 'state.db';

/**
 * The daemon's durable state: one SQLite database in WAL mode, one connection, synchronous
 * calls (better-sqlite3). Every table has its repository; statements are prepared once.
 * Open it with `openStateStore()`, close it with `close()` at shutdown.
 */
export class StateStore {
  readonly path: string;
  readonly sandboxes: SandboxRepo;
  readonly sessions: SessionRepo;
  readonly snapshots: SnapshotRepo;
  readonly audit: AuditRepo;
  readonly idempotency: IdempotencyRepo;
  readonly apiKeys: ApiKeyRepo;
  readonly signingKeys: SigningKeyRepo;
  readonly commands: CommandRepo;
  /** The E2B plane's rows (adapters/e2b). */
  readonly e2b: E2bSandboxRepo;
  readonly now: () => number;
  readonly #db: Database.Database;
  readonly #stopRunning: Database.Statement;
  readonly #selectRunning: Database.Statement<[]>;
  readonly #detachSessions: Database.Statement<[number]>;

  constructor(db: Database.Database, path: string, now: () => number) {
    this.#db = db;
    this.path = path;
    this.now = now;
    this.sandboxes = new SandboxRepo(db, now);
    this.sessions = new SessionRepo(db, now);
    this.snapshots = new SnapshotRepo(db, now);
    this.audit = new AuditRepo(db, now);
    this.idempotency = new IdempotencyRepo(db, now);
    this.apiKeys = new ApiKeyRepo(db, now);
    this.signingKeys = new SigningKeyRepo(db, now);
    this.commands = new CommandRepo(db);
    this.e2b = new E2bSandboxRepo(db);
    const live = "('creating', 'running', 'suspended')";
    this.#selectRunning = db.prepare(`SELECT id, state FROM sandboxes WHERE state IN ${live} ORDER BY created_ms, id`);
    this.#stopRunning = db.prepare(`UPDATE sandboxes SET state = 'stopped', updated_ms = @now,
        last_error = CASE WHEN state = 'creating' THEN 'creation interrupted: agentd stopped before the sandbox was ready' ELSE last_error END
      WHERE state IN ${live}`);
    this.#detachSessions = db.prepare("UPDATE sessions SET state = 'detached', last_active_ms = ? WHERE state = 'attached'");
  }

  /** The schema version of the open database. */
  schemaVersion(): number {
    const row = this.#db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
    return row.v ?? 0;
  }

  /** SQLite's journal mode ("wal" for a file database). */
  journalMode(): string {
    return String(this.#db.pragma('journal_mode', { simple: true }));
  }

  /** True when the database answers (for /readyz). */
  healthy(): boolean {
    try {
      return this.#db.open && (this.#db.prepare('SELECT 1 AS ok').get() as { ok: number }).ok === 1;
    } catch {
      return false;
    }
  }

  /** Runs `fn` in one IMMEDIATE transaction (all-or-nothing); `fn` must be synchronous. */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  /**
   * Crash recovery at start-up: no sandbox process survives the daemon, so every
   * creating/running/suspended sandbox becomes `stopped` (its files stay; it can be started
   * again), attached sessions become detached (their clients are gone), and in-flight
   * idempotency claims become `interrupted` (a retry is told, never run twice). Returns what changed;
   * the caller cleans up leftover processes and cgroups of `sandboxIds`.
   */
  markAllRunningAsStopped(): RecoveryReport {
    return this.transaction(() => {
      const now = this.now();
      const ids = (this.#selectRunning.all() as Array<{ id: string }>).map((r) => r.id);
      this.#stopRunning.run({ now });
      const sessionsDetached = this.#detachSessions.run(now).changes;
      const claimsInterrupted = this.idempotency.interruptAllInFlight();
      return { sandboxIds: ids, sessionsDetached, claimsInterrupted };
    });
  }

  /** Checkpoints the WAL into the main file and closes. Idempotent. */
  close(): void {
    if (!this.#db.open) return;
    this.audit.flush();
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.#db.close();
    }
  }
}

/**
 * Opens (creating if needed) the state database and brings its schema up to date.
 * Pragmas: WAL journal (readers never block the writer; a crash loses at most the last
 * transactions since the last sync), synchronous=NORMAL (safe with WAL: the database stays
 * consistent after a power loss), foreign keys on, busy_timeout for concurrent openers.
 */
export function openStateStore(opts: StateStoreOptions): StateStore {
  const now = opts.now ?? Date.now;
  const path = opts.path ?? join(opts.home, STATE_DB_FILE);
  if (opts.path === undefined) mkdirSync(opts.home, { recursive: true, mode: 0o700 });
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    throw new AgentdError('UNAVAILABLE', `cannot open state database ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    // Owner-only: the file holds API key verifiers and the audit log. SQLite gives the
    // -wal and -shm files the main file's mode, so this runs before WAL mode is set.
    if (path !== ':memory:') chmodSync(path, 0o600);
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000))}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const migrations = opts.migrations ?? MIGRATIONS;
    const applied = migrate(db, migrations, now);
    if (applied.length > 0) {
      opts.logger?.info({ path, applied, version: latestVersion(migrations) }, 'state database migrated');
    }
  } catch (err) {
    db.close();
    if (err instanceof AgentdError) throw err;
    throw new AgentdError('INTERNAL', `cannot prepare state database ${path}: ${(err as Error).message}`, { cause: err });
  }
  return new StateStore(db, path, now);
}
