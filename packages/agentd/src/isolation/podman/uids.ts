/**
 * Each podman sandbox gets its own block of UIDS_PER_SANDBOX host uids (its user namespace:
 * uid 0 inside = the block's first, agent 1000 = first + 1000). The block is leased in the
 * sandbox's root folder (`.podman-uids`, the daemon's file), so it is kept across restarts
 * and free again once the folder is gone.
 */
import { lstat, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { UIDS_PER_SANDBOX } from './options.js';

export const LEASE_FILE = '.podman-uids';
export const AGENT_UID = 1000;

async function readLease(root: string): Promise<number | undefined> {
  const file = join(root, LEASE_FILE);
  const st = await lstat(file).catch(() => undefined);
  if (st === undefined || !st.isFile() || st.uid !== process.getuid?.()) return undefined;
  const n = Number((await readFile(file, 'utf8')).trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export class UidBlocks {
  /** Blocks known taken, by sandboxes folder (read from the leases once, then kept up to date). */
  private readonly taken = new Map<string, Map<number, string>>();

  constructor(private readonly range: { start: number; count: number }) {}

  private async takenIn(sandboxesDir: string): Promise<Map<number, string>> {
    let set = this.taken.get(sandboxesDir);
    if (set !== undefined) return set;
    const found = new Map<number, string>();
    const names = await readdir(sandboxesDir).catch(() => [] as string[]);
    await Promise.all(names.map(async (n) => {
      const b = await readLease(join(sandboxesDir, n));
      if (b !== undefined) found.set(b, n);
    }));
    set = this.taken.get(sandboxesDir) ?? found;
    this.taken.set(sandboxesDir, set);
    return set;
  }

  /** The first host uid of the sandbox's block: its lease, else a new one. */
  async acquire(root: string, id: string): Promise<number> {
    const dir = dirname(root);
    const taken = await this.takenIn(dir);
    const leased = await readLease(root);
    const inRange = (b: number): boolean => b >= this.range.start && b + UIDS_PER_SANDBOX <= this.range.start + this.range.count && (b - this.range.start) % UIDS_PER_SANDBOX === 0;
    if (leased !== undefined && inRange(leased) && (taken.get(leased) ?? id) === id) {
      taken.set(leased, id);
      return leased;
    }
    const blocks = Math.floor(this.range.count / UIDS_PER_SANDBOX);
    for (let i = 0; i < blocks; i++) {
      const b = this.range.start + i * UIDS_PER_SANDBOX;
      if (taken.has(b)) continue;
      taken.set(b, id); // synchronously after the check: two starts never get one block
      const staged = join(root, `${LEASE_FILE}.new`);
      await writeFile(staged, `${b}\n`, { mode: 0o600 });
      await rename(staged, join(root, LEASE_FILE));
      return b;
    }
    throw new AgentdError('RESOURCE_EXHAUSTED', `backend 'podman': every host uid block of isolation.backends.podman.host_uid_range is leased (${blocks} blocks)`, { details: { blocks } });
  }

  /** Forgets the block of a sandbox whose folder is gone. */
  release(root: string, id: string): void {
    const taken = this.taken.get(dirname(root));
    if (taken === undefined) return;
    for (const [b, owner] of taken) if (owner === id) taken.delete(b);
  }
}
