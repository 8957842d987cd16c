import type Database from 'better-sqlite3';
import { AgentdError } from '../core/errors.js';
import type { IdempotencyClaim, IdempotencyScope } from './types.js';

interface IdempotencyRow {
  request_hash: string;
  state: 'in_flight' | 'done' | 'interrupted';
  response: string | null;
  created_ms: number;
  completed_ms: number | null;
  expires_ms: number;
}

/** How long a key is remembered by default (24 h), counted from the claim and again from completion. */
export const IDEMPOTENCY_DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * The `idempotency` table: one row per (tenant, subject, key). A claim is taken inside an
 * IMMEDIATE transaction, so two concurrent callers (even in two processes on the same file)
 * cannot both get `claimed`: a retried intent runs once.
 */
export class IdempotencyRepo {
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #get: Database.Statement;
  readonly #insert: Database.Statement;
  readonly #deleteOne: Database.Statement;
  readonly #complete: Database.Statement;
  readonly #release: Database.Statement;
  readonly #interruptAll: Database.Statement<[number]>;
  readonly #prune: Database.Statement<[number]>;

  constructor(db: Database.Database, now: () => number) {
    this.#db = db;
    this.#now = now;
    const scope = 'tenant = @tenant AND subject = @subject AND key = @key';
    this.#get = db.prepare(`SELECT request_hash, state, response, created_ms, completed_ms, expires_ms FROM idempotency WHERE ${scope}`);
    this.#insert = db.prepare(`INSERT INTO idempotency (tenant, subject, key, request_hash, state, response, created_ms, completed_ms, expires_ms)
      VALUES (@tenant, @subject, @key, @hash, 'in_flight', NULL, @now, NULL, @expires)`);
    this.#deleteOne = db.prepare(`DELETE FROM idempotency WHERE ${scope}`);
    this.#complete = db.prepare(`UPDATE idempotency SET state = 'done', response = @response, completed_ms = @now, expires_ms = @expires
      WHERE ${scope} AND state = 'in_flight'`);
    this.#release = db.prepare(`DELETE FROM idempotency WHERE ${scope} AND state = 'in_flight'`);
    this.#interruptAll = db.prepare("UPDATE idempotency SET state = 'interrupted', completed_ms = ? WHERE state = 'in_flight'");
    this.#prune = db.prepare('DELETE FROM idempotency WHERE expires_ms <= ?');
  }

  /**
   * Claims `scope.key` for a request whose canonical hash is `requestHash` (see hashRequest).
   * Returns `claimed` (run it, then complete() or release()), `in_flight` (the first call
   * is still running), `interrupted` (the first call was cut by a daemon stop or crash: its
   * effects are unknown, so it is never run again under this key) or `completed` (with the
   * first response). The same key with another
   * request hash throws CONFLICT. An expired key is forgotten and claimed afresh.
   */
  claim(scope: IdempotencyScope, requestHash: string, ttlMs: number = IDEMPOTENCY_DEFAULT_TTL_MS): IdempotencyClaim {
    return this.#db.transaction((): IdempotencyClaim => {
      const now = this.#now();
      let row = this.#get.get(scope) as IdempotencyRow | undefined;
      if (row !== undefined && row.expires_ms <= now) {
        this.#deleteOne.run(scope);
        row = undefined;
      }
      if (row === undefined) {
        this.#insert.run({ ...scope, hash: requestHash, now, expires: now + ttlMs });
        return { kind: 'claimed' };
      }
      if (row.request_hash !== requestHash) {
        throw new AgentdError('CONFLICT', 'this Idempotency-Key was already used with a different request', {
          details: { idempotency_key: scope.key },
        });
      }
      if (row.state === 'in_flight') return { kind: 'in_flight', claimedAtMs: row.created_ms };
      if (row.state === 'interrupted') return { kind: 'interrupted', claimedAtMs: row.created_ms, interruptedAtMs: row.completed_ms ?? row.created_ms };
      return { kind: 'completed', response: JSON.parse(row.response ?? 'null') as unknown, completedAtMs: row.completed_ms ?? row.created_ms };
    }).immediate();
  }

  /** Records the response of a claimed request. Returns false if the claim was not held (released or expired). */
  complete(scope: IdempotencyScope, response: unknown, ttlMs: number = IDEMPOTENCY_DEFAULT_TTL_MS): boolean {
    const now = this.#now();
    return this.#complete.run({ ...scope, response: JSON.stringify(response ?? null), now, expires: now + ttlMs }).changes > 0;
  }

  /** Drops an in-flight claim (the request failed before it ran) so that a retry runs it. */
  release(scope: IdempotencyScope): boolean {
    return this.#release.run(scope).changes > 0;
  }

  /**
   * Marks every in-flight claim `interrupted`: used at start-up, when their requests died
   * with the old process part way through. A retry under the same key is told so (never run
   * a second time silently); the key is forgotten when it expires, like any other.
   */
  interruptAllInFlight(): number {
    return this.#interruptAll.run(this.#now()).changes;
  }

  /** Forgets keys that expired at `nowMs`. */
  prune(nowMs: number = this.#now()): number {
    return this.#prune.run(nowMs).changes;
  }
}
