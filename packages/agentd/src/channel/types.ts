/**
 * The TypeScript view of the agentd-init channel (docs/protocol.md).
 * Implemented by `InitChannel` (channel/init-channel.ts); backends hand one out per sandbox.
 */

export interface InitReady {
  protocolVersion: number;
  /** The init's pid in its own pid namespace (1 inside a namespace sandbox). */
  pid: number;
  version: string;
}

export type SignalScope = 'leader' | 'group' | 'tree';

/** A pseudo-terminal for an exec (docs/protocol.md, "Terminals"). */
export interface PtyOptions {
  /** 1..65535 */
  rows: number;
  /** 1..65535 */
  cols: number;
  /** The TERM the process gets (default: the env's TERM, else `xterm-256color`). */
  term?: string;
}

export const DEFAULT_TERM = 'xterm-256color';

export interface ExecRequest {
  argv: string[];
  /** The complete environment of the process ("K" -> "V"); nothing is inherited. */
  env: Record<string, string>;
  /** Working directory in the sandbox's view; "" or undefined = the init's cwd. */
  cwd?: string;
  /** true: the process gets a stdin pipe fed through `ExecHandle.writeStdin`. */
  stdinPipe?: boolean;
  mergeStderr?: boolean;
  /** Initial output credit per stream in bytes (default 1 MiB). */
  window?: number;
  /**
   * Lower the process's CPU priority: added to the init's own nice value (the sum capped at
   * 19), 0..19, default 0 (the sandbox's normal priority). A sandbox can never raise it.
   */
  nice?: number;
  /**
   * Run the process on a new pseudo-terminal of this size, as the controlling terminal of
   * its session: stdin, stdout and stderr are the terminal, its output comes as one stream
   * (`stdout` chunks), input goes through `writeStdin` (^C, ^Z and the like as bytes; the line
   * discipline makes them signals), `closeStdin` types the terminal's VEOF (^D) and stops
   * input, `resize` changes the size (SIGWINCH). `stdinPipe` and `mergeStderr` must be unset.
   */
  pty?: PtyOptions;
}

export interface ExitInfo {
  /** null when killed by a signal. */
  exitCode: number | null;
  /** Signal name ("SIGKILL") or null. */
  signal: NodeJS.Signals | null;
  maxRssKib: number;
  userUsec: number;
  sysUsec: number;
}

export type OutputChunk = { stream: 'stdout' | 'stderr'; data: Buffer };

/** One running exec. Output chunks are consumed through `output()`; credit is returned as they are. */
export interface ExecHandle {
  readonly id: number;
  /** Resolves with the pid once running; rejects with SandboxOsError(EXEC_FAILED) if it could not start. */
  readonly started: Promise<{ pid: number }>;
  /** Resolves when the EXIT frame arrives (after all output was delivered to `output()`). */
  readonly exited: Promise<ExitInfo>;
  /** Output in arrival order; ends after the last chunk before EXIT. Consume it, or the process blocks (backpressure). */
  output(): AsyncIterable<OutputChunk>;
  writeStdin(data: Buffer | string): Promise<void>;
  closeStdin(): Promise<void>;
  signal(signo: NodeJS.Signals | number, scope: SignalScope): Promise<void>;
  /** true when the exec runs on a terminal (`ExecRequest.pty`). */
  readonly pty?: boolean;
  /**
   * A PTY exec's new terminal size (TIOCSWINSZ: its foreground group gets SIGWINCH).
   * Rejects with INVALID_ARGUMENT for a size out of 1..65535 or an exec without a terminal,
   * EXEC_FAILED (ESRCH) once the exec has ended.
   */
  resize?(rows: number, cols: number): Promise<void>;
  /**
   * Kills every process of the exec from outside the sandbox, without the init's help (for
   * an init that does not act on a SIGNAL in time). Resolves false when not possible.
   */
  forceKill?(): Promise<boolean>;
  /** Settles `exited` with `info` without waiting any longer for the init's EXIT. */
  abandon?(info: ExitInfo): void;
}

export type FileKind = 'file' | 'directory' | 'symlink' | 'other';

export interface FileStat {
  kind: FileKind;
  mode: number;
  size: number;
  mtimeMs: number;
  uid: number;
  gid: number;
  linkTarget?: string;
}

export interface DirEntry {
  name: string;
  kind: FileKind;
  mode: number;
  size: number;
  mtimeMs: number;
}

export interface ReadResult {
  data: Buffer;
  fileSize: number;
  eof: boolean;
}

export interface WriteOptions {
  append?: boolean;
  createDirs?: boolean;
  exclusive?: boolean;
  /** Mode for a newly created file (default 0o644). */
  mode?: number;
}

/** File operations done by agentd-init inside the sandbox. Errors are SandboxOsError('FS_ERROR') with the errno name. */
export interface SandboxFs {
  /** Reads up to `limit` bytes (any size: chunked under the hood) from `offset`. */
  read(path: string, opts?: { offset?: number; limit?: number; signal?: AbortSignal }): Promise<ReadResult>;
  write(path: string, data: Buffer | string, opts?: WriteOptions & { signal?: AbortSignal }): Promise<{ bytesWritten: number; fileSize: number }>;
  stat(path: string, opts?: { follow?: boolean; signal?: AbortSignal }): Promise<FileStat>;
  /** Every entry (paged under the hood). */
  list(path: string, opts?: { signal?: AbortSignal }): Promise<DirEntry[]>;
  mkdir(path: string, opts?: { mode?: number; parents?: boolean; signal?: AbortSignal }): Promise<void>;
  remove(path: string, opts?: { recursive?: boolean; signal?: AbortSignal }): Promise<void>;
  rename(from: string, to: string, opts?: { overwrite?: boolean; signal?: AbortSignal }): Promise<void>;
}

/** What happened in a watched tree (docs/protocol.md, "Directory watches"). */
export type WatchEventType = 'create' | 'write' | 'remove' | 'rename' | 'chmod' | 'overflow' | 'unwatched';

export interface WatchEvent {
  type: WatchEventType;
  /** Relative to the watched directory ("" = the directory itself; "" for overflow). */
  path: string;
  /** rename: the new path (relative to the watched directory). */
  to?: string;
  /** The entry is a directory. */
  isDir: boolean;
  /** overflow: events lost (0 = unknown: the kernel's queue overflowed). */
  lost?: number;
  /** unwatched: why the directory could not be watched ("ENOSPC": the watch limit). */
  errno?: string;
}

export interface WatchEnd {
  /** 'stopped': stop() or UNWATCH; 'gone': the watched directory was removed or moved; 'closed': the channel (sandbox) ended. */
  reason: 'stopped' | 'gone' | 'closed';
  message: string;
}

export interface WatchOptions {
  recursive?: boolean;
  /** Events the init may send before the consumer takes them (default 1024). */
  window?: number;
  signal?: AbortSignal;
}

/** A running directory watch. Consume `events()` or the watch stalls (backpressure, then overflow). */
export interface WatchHandle {
  readonly id: number;
  /** Resolves once the watch is in place (every directory watched); rejects with FS_ERROR (ENOENT, ENOTDIR, ...). */
  readonly started: Promise<void>;
  /** Resolves when the watch ends, after its last event. */
  readonly ended: Promise<WatchEnd>;
  /** Events in order; ends when the watch ends. */
  events(): AsyncIterable<WatchEvent>;
  /** Ends the watch (UNWATCH); idempotent. */
  stop(): Promise<void>;
}

export interface Channel {
  readonly ready: Promise<InitReady>;
  /** Resolves when the channel ends (init exited or stream closed); with the reason if abnormal. */
  readonly closed: Promise<Error | undefined>;
  readonly isClosed: boolean;
  readonly fs: SandboxFs;
  ping(signal?: AbortSignal): Promise<void>;
  exec(req: ExecRequest): ExecHandle;
  /** Watches a directory in the sandbox (resolved by the init, beneath its file root). */
  watch?(path: string, opts?: WatchOptions): WatchHandle;
  /** Asks the init to kill everything and exit. */
  shutdown(): Promise<void>;
}
