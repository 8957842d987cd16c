import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CgroupDriver, DEFAULT_CGROUP_PARENT } from '../isolation/cgroup/index.js';
import { removeSandboxDirs, sandboxDirs } from '../isolation/dirs.js';
import { unmountVolume, volumePaths } from '../isolation/disk/volume.js';
import { unstageOwnerMounts } from '../isolation/namespace/owner-mounts.js';
import { unmountImageRoot } from '../isolation/namespace/image-root.js';
import { deleteSnapshot } from '../isolation/snapshot/index.js';
import type { SandboxSpec } from '../isolation/types.js';
import type { StateStore } from '../state/store.js';
import type { Logger } from '../util/logger.js';

export interface RecoveryResult {
  stopped: string[];
  orphanCgroups: string[];
  orphanDirs: string[];
  /** Sandboxes whose destroy had begun (state `destroying`) and was finished now. */
  destroyed: string[];
}

/**
 * Thaws, kills and removes the leftover cgroups of this home's sandboxes (`ours`), under each
 * parent group the backends use. Groups of other sandboxes under the same parent (another
 * daemon on another home, a concurrent `agentd run`) are left alone.
 */
async function removeOurCgroups(parents: readonly string[], ours: ReadonlySet<string>, logger: Logger): Promise<string[]> {
  const removed: string[] = [];
  for (const parent of parents) {
    try {
      const driver = new CgroupDriver({ parent });
      for (const id of await driver.list()) {
        if (!ours.has(id)) continue;
        const group = await driver.attach(id);
        if (group === undefined) continue;
        // A sandbox suspended when the old daemon died is still frozen: its processes act on
        // no signal (SIGKILL included) until thawed. killAll copes too; thawing first says so.
        if (await group.isFrozen()) await group.thaw({ timeoutMs: 2000 }).catch(() => undefined);
        await group.killAll();
        await group.remove();
        removed.push(id);
      }
    } catch (err) {
      logger.warn({ parent, err: (err as Error).message }, 'could not clean up leftover sandbox cgroups');
    }
  }
  return removed;
}

/**
 * Finishes the destroys that had begun (state `destroying`: the daemon stopped part way, or a
 * destroy failed and was not retried): folders, snapshots (they go with their sandbox), record.
 * Their processes and cgroups are already gone (removeOurCgroups ran first). One that fails
 * again stays `destroying` with the reason, for a DELETE or the next start.
 */
async function finishDestroys(store: StateStore, home: string, logger: Logger): Promise<string[]> {
  const done: string[] = [];
  for (const rec of store.sandboxes.list({ states: ['destroying'] })) {
    try {
      await removeSandboxDirs((rec.spec as SandboxSpec | null)?.dirs ?? sandboxDirs(home, rec.id));
      for (const snap of store.snapshots.list({ sandboxId: rec.id })) {
        await deleteSnapshot(snap.path);
        store.snapshots.delete(snap.id);
      }
      store.sandboxes.delete(rec.id);
      done.push(rec.id);
    } catch (err) {
      store.sandboxes.setState(rec.id, 'destroying', `destroy failed: ${(err as Error).message}`);
      logger.warn({ sandbox: rec.id, err: (err as Error).message }, 'could not finish the destroy of a sandbox: DELETE it again to retry');
    }
  }
  return done;
}

/**
 * Start-up after a crash or a stop: no sandbox process of the old daemon can still be ours,
 * so every sandbox the state says was live becomes `stopped` (files intact, restartable),
 * leftover cgroups of this home's sandboxes are emptied (processes killed) and removed, and
 * folders of warm pool sandboxes (never recorded) are deleted.
 */
export async function recoverAtStart(store: StateStore, home: string, cgroupParent: string | undefined, logger: Logger): Promise<RecoveryResult> {
  const report = store.markAllRunningAsStopped();
  const known = new Set(store.sandboxes.list().map((r) => r.id));
  const entries = await readdir(join(home, 'sandboxes'), { withFileTypes: true }).catch(() => []);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  // host-direct always uses the default parent; the namespace backend may be given another.
  const parents = [...new Set([DEFAULT_CGROUP_PARENT, cgroupParent ?? DEFAULT_CGROUP_PARENT])];
  const orphanCgroups = await removeOurCgroups(parents, new Set([...known, ...dirs]), logger);
  // A disk-limit volume is mounted only while its sandbox runs: the crashed daemon left those of its live sandboxes mounted.
  for (const id of report.sandboxIds) {
    const rec = store.sandboxes.get(id);
    const root = (rec?.spec as SandboxSpec | null | undefined)?.dirs.root ?? sandboxDirs(home, id).root;
    // An image's overlay too (it may hold the volume busy).
    const specDirs = (rec?.spec as SandboxSpec | null | undefined)?.dirs ?? sandboxDirs(home, id);
    await unmountImageRoot(specDirs).catch((err: unknown) => logger.warn({ sandbox: id, err: (err as Error).message }, 'could not unmount the image root of a stopped sandbox'));
    await unmountVolume(volumePaths(root).mountPoint).catch((err: unknown) => logger.warn({ sandbox: id, err: (err as Error).message }, 'could not unmount the volume of a stopped sandbox'));
  }
  // A start cut short (the daemon killed between staging an owner-preserving bind mount and detaching it) leaves a staging mount.
  for (const name of dirs) {
    await unstageOwnerMounts(sandboxDirs(home, name).root).catch((err: unknown) => logger.warn({ sandbox: name, err: (err as Error).message }, 'could not detach the staging mounts of a sandbox'));
  }
  const orphanDirs: string[] = [];
  for (const name of dirs) {
    if (known.has(name)) continue;
    await removeSandboxDirs(sandboxDirs(home, name)).catch(() => undefined);
    orphanDirs.push(name);
  }
  const destroyed = await finishDestroys(store, home, logger);
  if (report.sandboxIds.length + orphanCgroups.length + orphanDirs.length + report.claimsInterrupted + destroyed.length > 0) {
    logger.warn(
      {
        stopped: report.sandboxIds.length, orphan_cgroups: orphanCgroups.length, orphan_dirs: orphanDirs.length, sessions_detached: report.sessionsDetached,
        idempotency_interrupted: report.claimsInterrupted, destroys_finished: destroyed.length,
      },
      'recovered from an earlier run: sandboxes marked stopped (start them again with `agentd sandbox start ID` or POST /v1/sandboxes/{id}/start)',
    );
  }
  return { stopped: report.sandboxIds, orphanCgroups, orphanDirs, destroyed };
}
