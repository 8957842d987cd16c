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

/** The `commands` table (migration 3). Written at start, about once a second while output changes, and at the end. */
export class CommandRepo {
  readonly #insert: Database.Statement;
  readonly #update: Database.Statement;
  readonly #delete: Database.Statement<[string]>;
  readonly #all: Database.Statement<[number]>;
  readonly #markLost: Database.Statement<[number]>;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(`INSERT INTO commands (id, sandbox_id, tenant, subject, argv, pty, pid, state, started_ms, end_offset, tail)
      VALUES (@id, @sandbox_id, @tenant, @subject, @argv, @pty, @pid, @state, @started_ms, 0, x'')`);
    this.#update = db.prepare(`UPDATE commands SET pid = @pid, state = @state, ended_ms = @ended_ms, exit_code = @exit_code, signal = @signal,
      error = @error, end_offset = @end_offset, tail = @tail WHERE id = @id`);
    this.#delete = db.prepare('DELETE FROM commands WHERE id = ?');
    this.#all = db.prepare('SELECT * FROM commands ORDER BY started_ms DESC, id LIMIT ?');
    this.#markLost = db.prepare("UPDATE commands SET state = 'lost', ended_ms = ?, error = 'the daemon stopped while the command ran; its output after the last saved tail is gone' WHERE state = 'running'");
  }

  insert(row: Pick<CommandRow, 'id' | 'sandboxId' | 'tenant' | 'subject' | 'argv' | 'pty' | 'pid' | 'state' | 'startedAtMs'>): void {
    this.#insert.run({
      id: row.id, sandbox_id: row.sandboxId, tenant: row.tenant, subject: row.subject, argv: JSON.stringify(row.argv), pty: row.pty ? 1 : 0,
      pid: row.pid, state: row.state, started_ms: row.startedAtMs,
    });
  }

  update(row: Pick<CommandRow, 'id' | 'pid' | 'state' | 'endedAtMs' | 'exitCode' | 'signal' | 'error' | 'endOffset' | 'tail'>): void {
    this.#update.run({
      id: row.id, pid: row.pid, state: row.state, ended_ms: row.endedAtMs, exit_code: row.exitCode, signal: row.signal, error: row.error,
      end_offset: row.endOffset, tail: row.tail,
    });
  }

  delete(id: string): void {
    this.#delete.run(id);
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
