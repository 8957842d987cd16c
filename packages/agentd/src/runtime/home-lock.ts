import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AgentdError } from '../core/errors.js';

/** `<home>/agentd.lock`: a tiny SQLite file whose exclusive lock is the daemon's claim on the home. */
export const HOME_LOCK_FILE = 'agentd.lock';
/** `<home>/agentd.pid`: the pid of the daemon holding the lock (informative only: the lock decides). */
export const HOME_PID_FILE = 'agentd.pid';

export interface HomeLock {
  readonly path: string;
  /** Releases the lock (idempotent). A killed process releases it too: the kernel drops its locks. */
  release(): void;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

function holderPid(home: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(home, HOME_PID_FILE), 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the exclusive lock on the agentd home before anything in it is touched (state,
 * recovery, sockets). The lock is SQLite's own on `<home>/agentd.lock` (POSIX record locks
 * underneath, `locking_mode=EXCLUSIVE` so it is held until the connection closes): the kernel
 * drops it when the holder exits in any way, SIGKILL included, so a crashed daemon never
 * leaves a stale lock; and SQLite keeps it exclusive between connections of one process too.
 * A second daemon on the same home gets UNAVAILABLE naming the holder's pid (when known) and
 * touches nothing.
 */
export function lockHome(home: string): HomeLock {
  const path = join(home, HOME_LOCK_FILE);
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    throw new AgentdError('UNAVAILABLE', `cannot open the home lock ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write in EXCLUSIVE locking mode takes the exclusive lock and keeps it.
    db.exec('BEGIN EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since_ms INTEGER NOT NULL)');
    db.exec('DELETE FROM holder');
    db.prepare('INSERT INTO holder (pid, since_ms) VALUES (?, ?)').run(process.pid, Date.now());
    db.exec('COMMIT');
  } catch (err) {
    db.close();
    if (isBusy(err)) {
      const pid = holderPid(home);
      throw new AgentdError(
        'UNAVAILABLE',
        `another agentd${pid === undefined ? '' : ` (pid ${pid})`} is running on the home ${home}: stop it first, or give this one another home (AGENTD_HOME or --config with another 'home'); nothing was changed`,
        { cause: err, details: { home, lock: path, ...(pid === undefined ? {} : { holder_pid: pid }) } },
      );
    }
    throw new AgentdError('UNAVAILABLE', `cannot take the home lock ${path}: ${(err as Error).message}`, { cause: err });
  }
  const pidFile = join(home, HOME_PID_FILE);
  try {
    writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o644 });
  } catch {
    // Informative only: the lock holds without it.
  }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      if (holderPid(home) === process.pid) rmSync(pidFile, { force: true });
      db.close();
    },
  };
}
