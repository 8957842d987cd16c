/** A spinner on stderr for operations that take over a second (only when stderr is a TTY). */
import type { CliIo } from './io.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface ProgressOptions {
  /** How long the operation may run before the spinner shows (default 1000 ms). */
  delayMs?: number;
}

/** Runs `task`; if it is still running after the delay and stderr is a TTY, shows `label` with a spinner. */
export async function withProgress<T>(io: CliIo, label: string, task: () => Promise<T>, options: ProgressOptions = {}): Promise<T> {
  if (io.stderr.isTTY !== true) return task();
  let frame = 0;
  let ticker: ReturnType<typeof setInterval> | undefined;
  const started = Date.now();
  const draw = (): void => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    io.stderr.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length] ?? ''} ${label} (${seconds}s)`);
  };
  const show = setTimeout(() => {
    draw();
    ticker = setInterval(draw, 100);
  }, options.delayMs ?? 1000);
  try {
    return await task();
  } finally {
    clearTimeout(show);
    if (ticker !== undefined) {
      clearInterval(ticker);
      io.stderr.write('\r\x1b[2K');
    }
  }
}
