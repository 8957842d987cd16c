/**
 * Reading and writing cgroup interface files, with errors that name the file. Reads are
 * synchronous behind async signatures: a cgroup file is a kernel interface with no disk behind
 * it (a read is ~10-40 us), while each trip through libuv's thread pool costs more than that
 * and, on a busy machine, a scheduling delay per call; a sandbox create makes about twenty of
 * these calls in a row (measured: the cgroup step of a create took 6-12 ms on a loaded 2-core
 * machine, ~1.4 ms after). Writes: see writeValue and writeValueNow.
 */
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { AgentdError } from '../../core/errors.js';

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function isMissing(err: unknown): boolean {
  const code = errCode(err);
  return code === 'ENOENT' || code === 'ENODEV';
}

/** The file's text, or undefined when the file (or its cgroup) does not exist. */
export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw new AgentdError('INTERNAL', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** A single-number file ("max" reads as Infinity); undefined when missing or unparsable. */
export async function readNumber(file: string): Promise<number | undefined> {
  const text = (await readOptional(file))?.trim();
  if (text === undefined || text === '') return undefined;
  if (text === 'max') return Number.POSITIVE_INFINITY;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** `key value` lines (memory.events, cpu.stat, memory.oom_control, cgroup.events). */
export function parseKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === undefined || value === undefined) continue;
    const n = Number(value);
    if (Number.isFinite(n)) out.set(key, n);
  }
  return out;
}

export async function readKeyed(file: string): Promise<Map<string, number> | undefined> {
  const text = await readOptional(file);
  return text === undefined ? undefined : parseKeyed(text);
}

/**
 * One write(2) of `value` through the thread pool; the kernel validates it, so its errno is
 * passed on with the file name. Some writes block in the kernel (cgroup.kill and moves into
 * cgroup.procs wait for an RCU grace period, milliseconds), so this is the default.
 */
export async function writeValue(file: string, value: string): Promise<void> {
  try {
    await writeFile(file, value);
  } catch (err) {
    throw writeError(file, value, err);
  }
}

/**
 * writeValue on the calling thread: for a limit written into a group just made, with no task
 * in it yet (nothing to reclaim, no lock to wait for), where the thread-pool trip costs more.
 */
export function writeValueNow(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (err) {
    throw writeError(file, value, err);
  }
}

function writeError(file: string, value: string, err: unknown): AgentdError {
  return new AgentdError('INTERNAL', `cannot write '${value}' to ${file}: ${(err as Error).message}`, { cause: err, details: { file, errno: errCode(err) } });
}

export async function exists(path: string): Promise<boolean> {
  try {
    accessSync(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** undefined when `dir` is writable by this process, else the reason in words. */
export async function writeAccessProblem(dir: string): Promise<string | undefined> {
  try {
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') return `${dir} does not exist`;
    if (code === 'EROFS') return `${dir} is mounted read-only`;
    const who = process.getuid?.() === 0 ? 'root, but access denied' : 'not root and no delegation';
    return `no write access to ${dir} (${who})`;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AgentdError('CANCELLED', 'cancelled', { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AgentdError('CANCELLED', 'cancelled', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
