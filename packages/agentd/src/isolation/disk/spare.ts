import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, renameSync } from 'node:fs';
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ownDir } from '../tree-ops.js';
import { PART_NAMES } from '../dirs.js';
import { ensureVolume, removeVolume, volumePaths, type VolumeTools } from './volume.js';

/**
 * Formatted, mounted disk volumes made ahead of demand, one spare per volume size, so a
 * sandbox's first start does not wait for mkfs.ext4 and the loop mount (together ~20-25 ms
 * of the create here, see bench/README.md).
 *
 * A spare is a folder `<home>/volume-spares/<random>/` laid out exactly as a sandbox root
 * folder with a volume (disk/volume.ts: `disk.img`, `volume/` mounted on it, made by the same
 * ensureVolume, the folder root-owned 0711). Taking one is a rename of that folder over the
 * sandbox's new, still empty, root folder (same file system; rename(2) replaces an empty
 * folder atomically and a mount below the renamed folder moves with it). Only a root folder
 * that is empty is replaced: a restart or a fork's seed takes the ordinary path.
 *
 * The spares are the daemon's: only the daemon's process makes them (never the CLI's one-shot
 * `run`), removes those a crashed daemon left at start (`open`) and its own at stop (`close`).
 */
/** Sizes a spare is kept for at once (the most recently used ones). */
export const MAX_SPARE_SIZES = 2;

export class SpareVolumes {
  /** One spare (ready or being made) per size in bytes. */
  private readonly spares = new Map<number, Promise<string | undefined>>();
  /** Spares of sizes no longer kept, being removed. */
  private readonly removing = new Set<Promise<void>>();
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly tools: VolumeTools,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Removes the spares a previous daemon left in `dir` (unmounted first), then returns the keeper of new ones. */
  static async open(dir: string, tools: VolumeTools, onError: (err: unknown) => void): Promise<SpareVolumes> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await ownDir(dir, 0o700);
    for (const name of await readdir(dir)) await removeSpare(join(dir, name), tools.umount);
    return new SpareVolumes(dir, tools, onError);
  }

  /**
   * Moves a ready spare of `bytes` into `root` (the sandbox's root folder: missing, or an empty
   * folder). false when none is ready or `root` holds something: the caller then makes the
   * volume itself. Never waits for a spare being made; `refill` starts the next one.
   */
  async take(root: string, bytes: number): Promise<boolean> {
    const pending = this.spares.get(bytes);
    const ready = this.closed || pending === undefined ? undefined : await settledNow(pending);
    if (ready === undefined) return false;
    // Synchronous metadata calls in the daemon's own home (see ../tree-ops.ts realDirSync).
    const st = lstatSync(root, { throwIfNoEntry: false });
    const fresh = st === undefined || (st.isDirectory() && readdirSync(root).length === 0);
    // Not a fresh root (a restart, a fork's seed): the spare stays for the next create.
    if (!fresh || this.spares.get(bytes) !== pending) return false;
    this.spares.delete(bytes);
    try {
      renameSync(ready, root);
    } catch (err) {
      this.onError(err);
      await removeSpare(ready, this.tools.umount).catch(this.onError);
      return false;
    }
    return true;
  }

  /** Starts making a spare of `bytes` in the background (at most one per size). */
  refill(bytes: number): void {
    if (this.closed || this.spares.has(bytes)) return;
    // Spares are kept for the few sizes used last: a client asking for many sizes cannot make the
    // daemon hold a mounted volume for each (the map's order is the order of last refill).
    for (const [old, spare] of this.spares) {
      if (this.spares.size < MAX_SPARE_SIZES) break;
      this.spares.delete(old);
      const removal = spare.then((path) => (path === undefined ? undefined : removeSpare(path, this.tools.umount))).catch(this.onError);
      this.removing.add(removal);
      void removal.finally(() => this.removing.delete(removal));
    }
    const path = join(this.dir, randomBytes(8).toString('hex'));
    // The sandbox's three folders are made ahead too: a first mkdir in a volume just formatted
    // waits for its journal (milliseconds), and the create then only gives them to its uid.
    const made = ensureVolume(path, bytes, this.tools).then(
      async () => {
        const inside = volumePaths(path).mountPoint;
        await Promise.all(PART_NAMES.map((name) => mkdir(join(inside, name), { mode: 0o700 })));
        return path;
      },
      async (err: unknown) => {
        this.onError(err);
        await removeSpare(path, this.tools.umount).catch(() => undefined);
        // A size that cannot be made now is retried at its next use.
        if (this.spares.get(bytes) === made) this.spares.delete(bytes);
        return undefined;
      },
    );
    this.spares.set(bytes, made);
  }

  /** Unmounts and removes every spare (the daemon stops). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.spares.values()];
    this.spares.clear();
    for (const path of await Promise.all(all)) if (path !== undefined) await removeSpare(path, this.tools.umount).catch(this.onError);
    await Promise.all([...this.removing]);
  }
}

/** The promise's value if it has settled already, else undefined (never waits for a spare being made). */
async function settledNow<T>(p: Promise<T | undefined>): Promise<T | undefined> {
  const notYet = Symbol('not yet');
  const v = await Promise.race([p, Promise.resolve(notYet)]);
  return v === notYet ? undefined : (v);
}

/** Unmounts a spare's volume (removeVolume) and removes its folder (the daemon's own: a spare never held a sandbox). */
async function removeSpare(path: string, umount: string): Promise<void> {
  if ((await lstat(path).catch(() => undefined)) === undefined) return;
  await removeVolume(path, umount);
  await rm(path, { recursive: true, force: true });
}
