import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { removeSandboxDirs, sandboxDirs } from '../isolation/dirs.js';
import { lifecycleOf } from '../isolation/lifecycle.js';
import { deleteSnapshot } from '../isolation/snapshot/index.js';
import type { IsolationBackend, SandboxDirs, SandboxSpec } from '../isolation/types.js';
import type { StateStore } from '../state/store.js';
import type { Logger } from '../util/logger.js';

export interface RecoveryResult {
  stopped: string[];
  orphanCgroups: string[];
  orphanDirs: string[];
  /** Sandboxes whose destroy had begun (state `destroying`) and was finished now. */
  destroyed: string[];
}

/** The backends recovery asks to clean up: every registered one (a backend that cannot be made is skipped, said in the log). */
export interface RecoveryBackends {
  /** Every backend instance to recover (each one's recover(), or nothing to clean). */
  all(): IsolationBackend[];
  /** The instance for a record's backend name (to remove a sandbox's files its way); undefined: the shared default. */
  byName(name: string): IsolationBackend | undefined;
}

/**
 * Finishes the destroys that had begun (state `destroying`: the daemon stopped part way, or a
 * destroy failed and was not retried): folders, snapshots (they go with their sandbox), record.
 * Their processes and cgroups are already gone (the backends' recover() ran first). One that fails
 * again stays `destroying` with the reason, for a DELETE or the next start.
 */
async function finishDestroys(store: StateStore, home: string, backends: RecoveryBackends, logger: Logger): Promise<string[]> {
  const done: string[] = [];
  for (const rec of store.sandboxes.list({ states: ['destroying'] })) {
    try {
      await lifecycleOf(backends.byName(rec.backend)).removeFiles((rec.spec as SandboxSpec | null)?.dirs ?? sandboxDirs(home, rec.id));
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
 * so every sandbox the state says was live becomes `stopped` (files intact, restartable);
 * each backend then finds and cleans what the old daemon left of this home's sandboxes
 * (its recover(): cgroups, mounts, containers), and folders of warm pool sandboxes (never
 * recorded) are deleted. Nothing here knows a backend.
 */
export async function recoverAtStart(store: StateStore, home: string, backends: RecoveryBackends, logger: Logger): Promise<RecoveryResult> {
  const report = store.markAllRunningAsStopped();
  const known = new Set(store.sandboxes.list().map((r) => r.id));
  const entries = await readdir(join(home, 'sandboxes'), { withFileTypes: true }).catch(() => []);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  const dirsOfId = (id: string): SandboxDirs => (store.sandboxes.get(id)?.spec as SandboxSpec | null | undefined)?.dirs ?? sandboxDirs(home, id);
  const ctx = {
    home, logger, ours: new Set([...known, ...dirs]),
    stopped: report.sandboxIds.map((id) => {
      const spec = store.sandboxes.get(id)?.spec as SandboxSpec | null | undefined;
      return { id, dirs: dirsOfId(id), ...(spec ? { spec } : {}) };
    }),
    folders: dirs.map((id) => ({ id, dirs: sandboxDirs(home, id) })),
  };
  const cleaned = new Set<string>();
  for (const backend of backends.all()) {
    try {
      const r = await lifecycleOf(backend).recover(ctx);
      for (const id of r.cgroups) cleaned.add(id);
      if (r.other !== undefined && r.other.length > 0) logger.warn({ backend: backend.name, leftovers: r.other }, 'cleaned up what an earlier run left');
    } catch (err) {
      logger.warn({ backend: backend.name, err: (err as Error).message }, 'a backend could not clean up after an earlier run');
    }
  }
  const orphanCgroups = [...cleaned];
  const orphanDirs: string[] = [];
  for (const name of dirs) {
    if (known.has(name)) continue;
    await removeSandboxDirs(sandboxDirs(home, name)).catch(() => undefined);
    orphanDirs.push(name);
  }
  const destroyed = await finishDestroys(store, home, backends, logger);
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
