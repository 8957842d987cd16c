/**
 * The daemon-wide budget for output of non-streamed execs held in memory while they run.
 * Each exec takes bytes as its output arrives and gives them all back when its result has
 * been built; what it cannot take is dropped (output_truncated, output_dropped_bytes), so
 * many concurrent large outputs cannot take the daemon's memory, and nothing ends in a 500.
 * Streamed output goes to the client with backpressure and is not counted.
 */
export class OutputBudget {
  #used = 0;

  /** `limit` is read at each take, so a config reload applies to the next chunks. */
  constructor(private readonly limit: () => number) {}

  get used(): number {
    return this.#used;
  }

  /** Takes up to `bytes`; returns how many were granted (0..bytes). */
  take(bytes: number): number {
    const granted = Math.max(0, Math.min(bytes, this.limit() - this.#used));
    this.#used += granted;
    return granted;
  }

  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}
