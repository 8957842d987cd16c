/**
 * `sandbox.pty`: a terminal in the sandbox (agentd-init opens a PTY there). Output is one
 * byte stream (`onData`), input goes to the terminal as typed (Ctrl-C as byte 3 becomes
 * SIGINT for the foreground job), `resize` changes its size. Over the same HTTP routes as
 * `sandbox.commands` (see commands.ts for why not a WebSocket here).
 */
import type { CommandExit, CommandHandle, CommandState, SandboxCommands } from './commands.js';

export interface PtyCreateOptions {
  cols: number;
  rows: number;
  /** Every byte the terminal shows, in order. */
  onData: (bytes: Uint8Array) => void;
  /** Program (default: the sandbox's shell, bash where it has one). */
  cmd?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** TERM (default xterm-256color). */
  term?: string;
  /** Time limit (default: the daemon's limits.max_exec_timeout_ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi'];

/** A running terminal. `await using` kills it (a terminal nobody watches is of no use). */
export class PtyHandle implements AsyncDisposable {
  constructor(private readonly handle: CommandHandle) {}

  get id(): string {
    return this.handle.id;
  }

  get pid(): number | null {
    return this.handle.pid;
  }

  /** Types into the terminal. */
  sendInput(data: string | Uint8Array): Promise<void> {
    return this.handle.sendStdin(data);
  }

  async resize(size: { cols: number; rows: number }): Promise<void> {
    await this.handle.resize(size.rows, size.cols);
  }

  kill(): Promise<void> {
    return this.handle.kill();
  }

  /** Resolves with the exit of the terminal's program. */
  wait(): Promise<CommandExit & { state: CommandState }> {
    return this.handle.wait();
  }

  /** Stops receiving output; the terminal keeps running (reconnect with `sandbox.commands.connect(id)`). */
  disconnect(): void {
    this.handle.disconnect();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill().catch(() => undefined);
    await this.wait().catch(() => undefined);
  }
}

export class SandboxPty {
  constructor(private readonly commands: SandboxCommands) {}

  async create(options: PtyCreateOptions): Promise<PtyHandle> {
    const handle = await this.commands.run(options.cmd ?? DEFAULT_SHELL, {
      background: true,
      pty: { rows: options.rows, cols: options.cols, ...(options.term === undefined ? {} : { term: options.term }) },
      onStdout: options.onData,
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return new PtyHandle(handle);
  }
}
