import type Database from 'better-sqlite3';

export type CommandState = 'running' | 'exited' | 'failed' | 'lost';

/** One command's row: what `GET .../commands` lists after a restart (docs/api.md, "Commands"). */
export interface CommandRow {
  id: string;
  sandboxId: string;
  tenant: string;
  subject: string;
  argv: string[];
  pty: boolean;
  pid: number | null;
  state: CommandState;
  startedAtMs: number;
  endedAtMs: number | null;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  /** Bytes the command wrote in all (the offset after its last byte). */
  endOffset: number;
  /** The last bytes of output (commands/ring.ts encodeChunks), ending at `endOffset`. */
  tail: Buffer;
}

interface Raw {
  id: string; sandbox_id: string; tenant: string; subject: string; argv: string; pty: number; pid: number | null; state: string;
  started_ms: number; ended_ms: number | null; exit_code: number | null; signal: string | null; error: string | null; end_offset: number; tail: Buffer;
}

function fromRaw(r: Raw): CommandRow {
  return {
    id: r.id, sandboxId: r.sandbox_id, tenant: r.tenant, subject: r.subject, argv: JSON.parse(r.argv) as string[], pty: r.pty === 1, pid: r.pid,
    state: r.state as CommandState, startedAtMs: r.started_ms, endedAtMs: r.ended_ms, exitCode: r.exit_code, signal: r.signal, error: r.error,
    endOffset: r.end_offset, tail: r.tail,
  };
}

/**
 * The `commands` table (migration 3). The registry writes in batches (`write`): every
 * command saved or dropped in one turn of the event loop, in one transaction.
 */
export class CommandRepo {
  readonly #upsert: Database.Statement;
  readonly #delete: Database.Statement<[string]>;
  readonly #all: Database.Statement<[number]>;
  readonly #markLost: Database.Statement<[number]>;
  readonly #write: (saves: readonly CommandRow[], deletes: readonly string[]) => void;

  constructor(db: Database.Database) {
    this.#upsert = db.prepare(`INSERT INTO commands (id, sandbox_id, tenant, subject, argv, pty, pid, state, started_ms, ended_ms, exit_code, signal, error, end_offset, tail)
      VALUES (@id, @sandbox_id, @tenant, @subject, @argv, @pty, @pid, @state, @started_ms, @ended_ms, @exit_code, @signal, @error, @end_offset, @tail)
      ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, state = excluded.state, ended_ms = excluded.ended_ms, exit_code = excluded.exit_code,
        signal = excluded.signal, error = excluded.error, end_offset = excluded.end_offset, tail = excluded.tail`);
    this.#delete = db.prepare('DELETE FROM commands WHERE id = ?');
    this.#all = db.prepare('SELECT * FROM commands ORDER BY started_ms DESC, id LIMIT ?');
    this.#markLost = db.prepare("UPDATE commands SET state = 'lost', ended_ms = ?, error = 'the daemon stopped while the command ran; its output after the last saved tail is gone' WHERE state = 'running'");
    this.#write = db.transaction((saves: readonly CommandRow[], deletes: readonly string[]) => {
      for (const row of saves) {
        this.#upsert.run({
          id: row.id, sandbox_id: row.sandboxId, tenant: row.tenant, subject: row.subject, argv: JSON.stringify(row.argv), pty: row.pty ? 1 : 0,
          pid: row.pid, state: row.state, started_ms: row.startedAtMs, ended_ms: row.endedAtMs, exit_code: row.exitCode, signal: row.signal,
          error: row.error, end_offset: row.endOffset, tail: row.tail,
        });
      }
      for (const id of deletes) this.#delete.run(id);
    });
  }

  /** Saves (inserts or updates) `saves` and deletes `deletes`, all in one transaction. */
  write(saves: readonly CommandRow[], deletes: readonly string[]): void {
    this.#write(saves, deletes);
  }

  /** Every row still `running` becomes `lost` (no command survives its daemon); returns how many. */
  markRunningLost(nowMs: number): number {
    return this.#markLost.run(nowMs).changes;
  }

  /** The newest `limit` rows. */
  newest(limit: number): CommandRow[] {
    return (this.#all.all(limit) as Raw[]).map(fromRaw);
  }
}
