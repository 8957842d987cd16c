/**
 * A file-backed ProbeCache (see types.ts): one JSON file per entry in a folder only the
 * current user can write (`<home>/cache`, made 0700). Only successes are stored.
 * A file is believed only when it is a regular file with one link, owned by this
 * process's effective uid, writable by nobody else, in a folder with the same
 * properties, and stored under exactly the key asked for; anything else is a miss
 * (the backend then probes for real). Reading or writing it never fails the caller.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../util/logger.js';
import type { FeatureStatus, ProbeCache } from './types.js';

/** Bump when the file layout changes: older files then never match. */
const FORMAT = 1;
const MAX_BYTES = 64 * 1024;
const ENTRY_NAME = /^[a-z][a-z0-9.-]{0,63}$/;

interface StoredEntry {
  format: number;
  key: string;
  storedAt: string;
  value: { ok: true; detail?: string };
}

/** Why a file or folder at `what` cannot be trusted, or undefined when it can. */
function untrusted(what: string, st: { uid: number; mode: number; nlink: number }, euid: number, kind: 'file' | 'folder'): string | undefined {
  if (st.uid !== euid) return `${kind} ${what} is owned by uid ${st.uid}, not by this user (uid ${euid})`;
  if ((st.mode & 0o022) !== 0) return `${kind} ${what} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  if (kind === 'file' && st.nlink !== 1) return `file ${what} has ${st.nlink} links`;
  return undefined;
}

function parseEntry(text: string): StoredEntry | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const e = data as Partial<StoredEntry>;
  const v = e.value as Partial<FeatureStatus> | undefined;
  if (e.format !== FORMAT || typeof e.key !== 'string' || typeof e.storedAt !== 'string') return undefined;
  if (typeof v !== 'object' || v === null || v.ok !== true || (v.detail !== undefined && typeof v.detail !== 'string')) return undefined;
  return { format: FORMAT, key: e.key, storedAt: e.storedAt, value: { ok: true, ...(v.detail === undefined ? {} : { detail: v.detail }) } };
}

export class FileProbeCache implements ProbeCache {
  /** Entries this instance answered from a file (a start that then fails re-probes them). */
  readonly #answered = new Set<string>();

  constructor(
    /** The folder holding one file per entry (made on the first store); its parent must already exist. */
    readonly dir: string,
    private readonly logger: Logger,
    private readonly euid: number = process.geteuid?.() ?? -1,
  ) {}

  /** The cache of an agentd home: `<home>/cache`. */
  static forHome(home: string, logger: Logger): FileProbeCache {
    return new FileProbeCache(join(home, 'cache'), logger);
  }

  fileOf(entry: string): string {
    if (!ENTRY_NAME.test(entry)) throw new Error(`probe cache entry name '${entry}' is not valid`);
    return join(this.dir, `${entry}.json`);
  }

  /** Entries answered from the cache so far. */
  answered(): string[] {
    return [...this.#answered];
  }

  async get(entry: string, key: string): Promise<FeatureStatus | undefined> {
    const file = this.fileOf(entry);
    const problem = await this.#folderProblem();
    if (problem !== undefined) {
      if (problem !== 'missing') this.logger.debug({ file }, `probe cache not used: ${problem}`);
      return undefined;
    }
    // O_NOFOLLOW: a symlink planted in place of the file is refused, not followed; the checks run on the open fd.
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
    if (fh === undefined) return undefined;
    try {
      const st = await fh.stat();
      const why = !st.isFile() ? `${file} is not a regular file` : untrusted(file, st, this.euid, 'file') ?? (st.size > MAX_BYTES ? `${file} is too large` : undefined);
      if (why !== undefined) {
        this.logger.debug({ file }, `probe cache entry ignored: ${why}`);
        return undefined;
      }
      const stored = parseEntry(await fh.readFile('utf8'));
      if (stored === undefined) {
        this.logger.debug({ file }, 'probe cache entry ignored: not a valid entry');
        return undefined;
      }
      if (stored.key !== key) {
        this.logger.debug({ file }, 'probe cache entry is stale (what the probe depends on changed): probing again');
        return undefined;
      }
      this.#answered.add(entry);
      this.logger.debug({ file, storedAt: stored.storedAt }, `probe result '${entry}' taken from the cache`);
      return stored.value;
    } catch {
      return undefined;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  async set(entry: string, key: string, value: FeatureStatus): Promise<void> {
    // Failures are never remembered: the next run must try again.
    if (!value.ok) return;
    const file = this.fileOf(entry);
    try {
      // The home itself is never made here (a backend makes it with the modes its sandboxes need): no home, no cache.
      await mkdir(this.dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      const problem = await this.#folderProblem();
      if (problem !== undefined) {
        this.logger.debug({ file }, `probe result not cached: ${problem}`);
        return;
      }
      const stored: StoredEntry = { format: FORMAT, key, storedAt: new Date().toISOString(), value: { ok: true, ...(value.detail === undefined ? {} : { detail: value.detail }) } };
      const tmp = join(this.dir, `.${entry}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(stored)}\n`);
      } finally {
        await fh.close();
      }
      await rename(tmp, file).catch(async (err: unknown) => {
        await rm(tmp, { force: true });
        throw err;
      });
    } catch (err) {
      this.logger.debug({ file }, `probe result not cached: ${(err as Error).message}`);
    }
  }

  /** Removes the entries this instance answered (their result proved wrong); later gets miss. */
  async forgetAnswered(): Promise<void> {
    const entries = this.answered();
    this.#answered.clear();
    await Promise.all(entries.map((e) => rm(this.fileOf(e), { force: true }).catch(() => undefined)));
  }

  /** 'missing', a reason the folder cannot be trusted, or undefined when it can. */
  async #folderProblem(): Promise<string | undefined> {
    const st = await lstat(this.dir).catch(() => undefined);
    if (st === undefined) return 'missing';
    if (!st.isDirectory()) return `${this.dir} is not a directory`;
    return untrusted(this.dir, st, this.euid, 'folder');
  }
}
