import { AgentdError } from '../core/errors.js';

/**
 * Remembers signatures seen within the timestamp window, so that a captured signed request
 * cannot be sent twice. Memory is bounded: at most `maxEntries`; expired entries are swept
 * when the cache is full, and if it is still full the new request is refused
 * (RESOURCE_EXHAUSTED, fail closed) rather than forgetting a live entry, which would
 * reopen a replay. Only holders of a registered key can add entries.
 */
export class ReplayCache {
  readonly #maxEntries: number;
  /** signature -> expiry (epoch ms). Map keeps insertion order, which is close to expiry order. */
  readonly #seen = new Map<string, number>();

  constructor(maxEntries = 100_000) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Records `id` until `expiresAtMs`; false if it was already seen and has not expired. */
  checkAndRemember(id: string, expiresAtMs: number, nowMs: number): boolean {
    const previous = this.#seen.get(id);
    if (previous !== undefined && previous > nowMs) return false;
    if (previous === undefined && this.#seen.size >= this.#maxEntries) {
      this.sweep(nowMs);
      if (this.#seen.size >= this.#maxEntries) {
        throw new AgentdError('RESOURCE_EXHAUSTED', 'too many signed requests in the replay window; retry shortly', { retryAfterMs: 1000 });
      }
    }
    this.#seen.set(id, expiresAtMs);
    return true;
  }

  /** Drops expired entries. */
  sweep(nowMs: number): void {
    for (const [id, expires] of this.#seen) if (expires <= nowMs) this.#seen.delete(id);
  }
}
