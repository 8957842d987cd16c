/**
 * One host uid per sandbox (root daemons): each sandbox runs as, and its folders belong to,
 * its own unprivileged host uid (gid the same number), taken from a configured range. So
 * per-user kernel limits (inotify instances, POSIX message queues, RLIMIT_NPROC...) and file
 * permissions separate sandboxes even if a mount view were wrong.
 *
 * A lease is a symlink `<home>/host-uids/<uid>` whose target is the sandbox id: symlink(2)
 * fails with EEXIST when the uid is taken, so two sandboxes (even of two processes sharing
 * the home) never get the same uid. The folder is root-owned 0700; lease links are only read
 * with readlink, never followed. A lease is taken at the sandbox's first start and kept
 * while its files exist (restart keeps the uid), released when its folders are removed.
 */
import { lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { readdir, readFile, readlink, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../core/errors.js';

export interface HostIds {
  uid: number;
  gid: number;
}

export interface HostUidRange {
  start: number;
  count: number;
}

export const DEFAULT_HOST_UID_RANGE: Readonly<HostUidRange> = Object.freeze({ start: 1_000_000, count: 65_536 });

/** `<home>/host-uids`, for a sandbox root folder `<home>/sandboxes/<id>`. */
export function leaseDirOf(sandboxRoot: string): string {
  return join(dirname(dirname(sandboxRoot)), 'host-uids');
}

async function leases(dir: string): Promise<Map<number, string>> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => /^\d+$/.test(name));
  // Read at once (a create reads every lease: one after the other cost a thread-pool round trip each).
  const targets = await Promise.all(names.map((name) => readlink(join(dir, name)).catch(() => undefined)));
  const out = new Map<number, string>();
  names.forEach((name, i) => {
    const target = targets[i];
    if (target !== undefined) out.set(Number(name), target);
  });
  return out;
}

function leasesSync(dir: string): Map<number, string> {
  const out = new Map<number, string>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.set(Number(name), readlinkSync(join(dir, name)));
    } catch {
      // Removed meanwhile.
    }
  }
  return out;
}

/** The uid leased to sandbox `id` (root folder `root`), if any. */
export async function leasedUid(root: string, id: string): Promise<number | undefined> {
  for (const [uid, owner] of await leases(leaseDirOf(root))) if (owner === id) return uid;
  return undefined;
}

/** Frees the uid of sandbox `id` (after its folders are gone). No lease: nothing to do. */
export async function releaseHostUid(root: string, id: string): Promise<void> {
  const dir = leaseDirOf(root);
  for (const [uid, owner] of await leases(dir)) if (owner === id) await unlink(join(dir, String(uid))).catch(() => undefined);
}

/**
 * Hands out uids of one range. `acquire` returns the sandbox's existing lease, else
 * `preferred` when it is in the range and free (a sandbox made before leases existed keeps
 * the uid its files have), else the lowest free uid; RESOURCE_EXHAUSTED when none is left.
 * Calls are serialised in this process; symlink's EEXIST settles races with others.
 */
export class HostUidAllocator {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly range: HostUidRange) {}

  acquire(root: string, id: string, preferred?: number): Promise<HostIds> {
    const next = this.queue.then(() => this.doAcquire(root, id, preferred));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Synchronous file calls: a lease is a symlink in the daemon's own folder, and a create with
   * N sandboxes alive reads N links and looks at N folders; through the thread pool those were
   * 2N trips in a row (milliseconds per create with a few sandboxes on a loaded machine).
   */
  private async doAcquire(root: string, id: string, preferred?: number): Promise<HostIds> {
    const dir = leaseDirOf(root);
    // The sandbox's folder exists before its lease does, so a lease is stale only once its folder
    // is gone. Made first: folders above it that do not exist yet must be 0711, not 0700.
    mkdirSync(root, { recursive: true, mode: 0o711 });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== process.getuid?.()) {
      throw new AgentdError('INTERNAL', `${dir} is not a directory owned by the daemon: refusing to record host uid leases there`, { details: { path: dir } });
    }
    const taken = leasesSync(dir);
    for (const [uid, owner] of taken) if (owner === id) return { uid, gid: uid };
    // A lease whose sandbox folder is gone (a crash between removing it and freeing the uid) is free again.
    for (const [uid, owner] of [...taken]) {
      if (lstatSync(join(dirname(root), owner), { throwIfNoEntry: false }) !== undefined) continue;
      try {
        unlinkSync(join(dir, String(uid)));
      } catch {
        // Gone already.
      }
      taken.delete(uid);
    }
    const { start, count } = this.range;
    const inRange = (u: number): boolean => u >= start && u < start + count;
    // Lazily: a list of every free uid of the range (65,536 by default) cost ~2 ms per create.
    function* candidates(): Generator<number> {
      if (preferred !== undefined && inRange(preferred) && !taken.has(preferred)) yield preferred;
      for (let u = start; u < start + count; u++) if (!taken.has(u)) yield u;
    }
    for (const uid of candidates()) {
      try {
        symlinkSync(id, join(dir, String(uid)));
        return { uid, gid: uid };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new AgentdError('RESOURCE_EXHAUSTED', `no free host uid left in host_uid_range ${start}..${start + count - 1}: every uid belongs to a sandbox whose files exist`, {
      details: { host_uid_range: { start, count } },
    });
  }
}

/** `name:start:count` lines of /etc/subuid or /etc/subgid. */
function subRanges(text: string): Array<{ name: string; start: number; count: number }> {
  return text.split('\n').flatMap((line) => {
    const [name, s, c] = line.trim().split(':');
    const start = Number(s);
    const count = Number(c);
    return name !== undefined && name !== '' && Number.isInteger(start) && Number.isInteger(count) ? [{ name, start, count }] : [];
  });
}

/** Ids (field 3) of /etc/passwd or /etc/group lines. */
function accountIds(text: string): Array<{ name: string; id: number }> {
  return text.split('\n').flatMap((line) => {
    const f = line.split(':');
    const id = Number(f[2]);
    return f[0] !== undefined && f[0] !== '' && Number.isInteger(id) ? [{ name: f[0], id }] : [];
  });
}

/**
 * Why `range` cannot hold sandbox uids on this host, or undefined: it overlaps a subordinate
 * id range (/etc/subuid, /etc/subgid: those uids belong to a user's containers) or the id of
 * an account or group (its files would be the sandbox's).
 */
export async function rangeProblem(range: HostUidRange, etc = '/etc'): Promise<string | undefined> {
  const end = range.start + range.count;
  const overlaps = (s: number, c: number): boolean => s < end && range.start < s + c;
  const read = (f: string): Promise<string> => readFile(join(etc, f), 'utf8').catch(() => '');
  for (const file of ['subuid', 'subgid']) {
    const hit = subRanges(await read(file)).find((r) => overlaps(r.start, r.count));
    if (hit !== undefined) {
      return `host_uid_range ${range.start}..${end - 1} overlaps ${etc}/${file} range ${hit.start}..${hit.start + hit.count - 1} of '${hit.name}': choose another isolation.backends.namespace.host_uid_range`;
    }
  }
  for (const file of ['passwd', 'group']) {
    const hit = accountIds(await read(file)).find((a) => overlaps(a.id, 1));
    if (hit !== undefined) {
      return `host_uid_range ${range.start}..${end - 1} holds id ${hit.id} of ${file === 'passwd' ? 'user' : 'group'} '${hit.name}': choose another isolation.backends.namespace.host_uid_range`;
    }
  }
  return undefined;
}
