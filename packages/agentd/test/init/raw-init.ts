/**
 * A real agentd-init driven frame by frame (no InitChannel in between), for protocol-level
 * tests: raw bytes in, decoded frames out, always torn down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { test } from 'vitest';
import { encodeMessage, FrameDecoder, type DaemonMessage, type INIT_MESSAGES, type InitMessage, type Message, type ProtocolErrorEvent } from '../../src/channel/frames.js';
import { nativePaths } from '../../src/native-paths.js';

export const INIT_PATH = nativePaths().init;
export const HAVE_INIT = existsSync(INIT_PATH);
if (!HAVE_INIT) console.warn(`skipping agentd-init protocol tests: ${INIT_PATH} is missing (build it with make -C packages/agentd/native)`);

export const PATH_ENV = ['PATH=/usr/local/bin:/usr/bin:/bin'];

type Received = InitMessage | ProtocolErrorEvent;
type InitName = (typeof INIT_MESSAGES)[number];

export class RawInit {
  readonly frames: Received[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';
  private readonly decoder = new FrameDecoder<InitMessage>('init');
  private wake: (() => void) | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly root: string,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.frames.push(...this.decoder.push(chunk));
      this.wake?.();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  send(msg: DaemonMessage): void {
    this.child.stdin?.write(encodeMessage(msg));
  }

  sendRaw(buf: Buffer): void {
    this.child.stdin?.write(buf);
  }

  /** Resolves once the bytes written so far have been handed to the pipe. */
  flush(): Promise<void> {
    return new Promise((resolve) => this.child.stdin?.write(Buffer.alloc(0), () => resolve()));
  }

  /** Removes and returns the first received frame matching `pred`, waiting up to `timeoutMs`. */
  async take<N extends InitName>(pred: (m: Received) => m is Message<N>, timeoutMs?: number): Promise<Message<N>>;
  async take(pred: (m: Received) => boolean, timeoutMs?: number): Promise<Received>;
  async take(pred: (m: Received) => boolean, timeoutMs = 5000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0] as Received;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; have ${JSON.stringify(this.frames.map((f) => [f.type, f.id]))}; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** The answer frame of type `type` for request `id`. */
  answer<N extends InitName>(type: N, id: number, timeoutMs?: number): Promise<Message<N>> {
    return this.take((m): m is Message<N> => m.type === type && m.id === id, timeoutMs);
  }

  /** Every frame of an exec up to and including its EXIT, returning stdout, stderr and the EXIT. */
  async collect(id: number, timeoutMs = 10_000): Promise<{ stdout: Buffer; stderr: Buffer; exit: Message<'EXIT'> }> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    for (;;) {
      const m = await this.take((f) => f.id === id && (f.type === 'STDOUT' || f.type === 'STDERR' || f.type === 'EXIT'), timeoutMs);
      if (m.type === 'STDOUT') out.push(m.data);
      else if (m.type === 'STDERR') err.push(m.data);
      else if (m.type === 'EXIT') return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), exit: m };
    }
  }

  /** Ends stdin (the init then kills everything it started), SIGKILLs it if it lingers, removes the root. */
  async close(): Promise<void> {
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
    await rm(this.root, { recursive: true, force: true });
  }
}

/** `extraFd`: hand the init one more pipe as its fd 3 (as a daemon might by accident). */
export async function startRawInit(opts: { extraFd?: boolean } = {}): Promise<RawInit> {
  const root = await mkdtemp(join(tmpdir(), 'agentd-init-test-'));
  const child = spawn(INIT_PATH, ['--fs-root', root, '--subreaper'], {
    cwd: root,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    stdio: opts.extraFd ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
  });
  const init = new RawInit(child, root);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  return init;
}

/** A test with a live raw init, always killed and cleaned up. */
export const rawTest = test.extend<{ init: RawInit }>({
  // eslint-disable-next-line no-empty-pattern
  init: async ({}, use) => {
    const init = await startRawInit();
    try {
      await use(init);
    } finally {
      await init.close();
    }
  },
});

export function exec(id: number, argv: string[], opts: { flags?: number; env?: string[]; cwd?: string; window?: number; nice?: number; rows?: number; cols?: number } = {}): DaemonMessage {
  return { type: 'EXEC', id, flags: opts.flags ?? 0, argv, env: opts.env ?? PATH_ENV, cwd: opts.cwd ?? '', window: opts.window ?? 0, nice: opts.nice ?? 0, rows: opts.rows ?? 0, cols: opts.cols ?? 0 };
}

/** A token unique to one test, usable as a `sleep` duration ("3600.<digits>") and found in /proc cmdlines. */
export function token(): string {
  return `3600.${BigInt(`0x${randomBytes(6).toString('hex')}`).toString().padStart(15, '0')}`;
}

/** Live (non-zombie) processes whose command line contains `marker` (e.g. `sleep MARKER` and the shells that started it). */
export async function processesWith(marker: string, exactArgv?: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8');
      if (!cmdline.includes(marker)) continue;
      if (exactArgv && cmdline !== exactArgv.map((a) => `${a}\0`).join('')) continue;
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      if (stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z') out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Every process of group `pgid`, zombies included (a zombie still answers kill(-pgid)). */
export async function groupMembers(pgid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Live `sleep MARKER` processes. */
export function sleepers(marker: string): Promise<number[]> {
  return processesWith(marker, ['sleep', marker]);
}

/** Polls until `cond` holds or the deadline passes; returns the last value. */
export async function waitUntil<T>(get: () => Promise<T>, cond: (v: T) => boolean, withinMs = 3000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const v = await get();
    if (cond(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Kills every process carrying `marker` (test cleanup for a failed assertion). */
export async function killAll(marker: string): Promise<void> {
  for (const pid of await processesWith(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
