/**
 * A backend's per-sandbox disk volumes (volume.ts) with spares made ahead (spare.ts): what
 * every backend that offers a disk limit does, written once. The sandbox's workspace, home and
 * tmp (and an image layer) live inside its volume, mounted only while it runs.
 */
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import type { Logger } from '../../util/logger.js';
import type { SandboxSpec } from '../types.js';
import { SpareVolumes } from './spare.js';
import { ensureVolume, findVolumeTools, volumePaths, type VolumeTools } from './volume.js';

export class BackendVolumes {
  private found: Promise<{ tools?: VolumeTools; problem?: string }> | undefined;
  /** Volumes formatted and mounted ahead of demand (a daemon's backend only: opened by openSpares). */
  private spares: SpareVolumes | undefined;

  constructor(
    private readonly backend: string,
    /** The home's folder holding this backend's spares (each backend its own: a spare is renamed into a sandbox of that backend). */
    private readonly sparesFolder: string,
    private readonly logger: Logger,
  ) {}

  /** mkfs.ext4/mount/umount, found once (root only). */
  tools(): Promise<{ tools?: VolumeTools; problem?: string }> {
    this.found ??= findVolumeTools();
    return this.found;
  }

  /** Opens the spares next to the sandboxes' folders (same file system: a spare is renamed into one). Daemons only, from prepareHome. */
  async openSpares(sandboxesDir: string): Promise<void> {
    const { tools } = await this.tools();
    if (tools === undefined || this.spares !== undefined) return;
    this.spares = await SpareVolumes.open(join(dirname(sandboxesDir), this.sparesFolder), tools, (err) => {
      this.logger.warn({ backend: this.backend, err: (err as Error).message }, 'spare disk volume');
    });
  }

  /**
   * Mounts the sandbox's own volume when it has a disk limit (made on its first start, or a
   * spare taken); refuses a limit it cannot enforce (`refusal`: why not, when the caller
   * knows, e.g. "needs a root daemon").
   */
  async prepare(spec: SandboxSpec, signal?: AbortSignal, refusal?: string): Promise<void> {
    const bytes = spec.limits.diskBytes;
    if (bytes === undefined) return;
    const { tools, problem } = await this.tools();
    if (tools === undefined || refusal !== undefined) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `backend '${this.backend}' cannot enforce a disk limit here: ${refusal ?? problem ?? 'unavailable'}`, { details: { limits: ['diskBytes'] } });
    }
    const inside = `${volumePaths(spec.dirs.root).mountPoint}/`;
    const outside = [spec.dirs.workspace, spec.dirs.home, spec.dirs.tmp].filter((d) => !d.startsWith(inside));
    if (outside.length > 0) {
      throw new AgentdError('INTERNAL', `sandbox ${spec.id} has a disk limit but its folders are not inside its volume ${inside}`, { details: { dirs: outside } });
    }
    // A spare is made ahead by ensureVolume itself (formatted, mounted, daemon-owned, in a folder
    // only the daemon can reach) and renamed whole into the sandbox's root: nothing left to check.
    if (await this.spares?.take(spec.dirs.root, bytes)) return;
    await ensureVolume(spec.dirs.root, bytes, tools, signal);
  }

  /** Runs a start; the next spare of its size is made after it, not while it runs. */
  async around<T>(spec: SandboxSpec, start: () => Promise<T>): Promise<T> {
    try {
      return await start();
    } finally {
      if (spec.limits.diskBytes !== undefined) this.spares?.refill(spec.limits.diskBytes);
    }
  }

  /** Unmounts and removes the spares (the daemon stops). */
  async close(): Promise<void> {
    await this.spares?.close();
  }
}
