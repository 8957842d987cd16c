import type { Logger } from '../util/logger.js';

/**
 * Runs the periodic housekeeping tasks (TTL expiry, warm-pool recycling, session timeouts)
 * one after another, never overlapping. The timer is unref'd and stopped by `stop()`.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly tasks: ReadonlyArray<{ name: string; run: () => Promise<unknown> }>,
    private readonly logger: Logger,
  ) {}

  start(intervalMs: number): void {
    this.stopTimer();
    this.timer = setInterval(() => void this.runOnce(), intervalMs);
    this.timer.unref();
  }

  /** One pass of every task (skipped if a pass is already running); resolves when it is done. */
  runOnce(): Promise<void> {
    this.running ??= (async () => {
      for (const task of this.tasks) {
        try {
          await task.run();
        } catch (err) {
          this.logger.warn({ task: task.name, err: (err as Error).message }, 'sweeper task failed');
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopTimer();
    await this.running;
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
