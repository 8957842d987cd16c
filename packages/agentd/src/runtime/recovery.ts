import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CgroupDriver } from '../isolation/cgroup/index.js';
import { removeSandboxDirs, sandboxDirs } from '../isolation/dirs.js';
import type { StateStore } from '../state/store.js';
import type { Logger } from '../util/logger.js';

export interface RecoveryResult {
  stopped: string[];
  orphanCgroups: string[];
  orphanDirs: string[];
}

/**
 * Start-up after a crash or a stop: no sandbox process of the old daemon can still be ours,
 * so every sandbox the state says was live becomes `stopped` (files intact, restartable),
 * leftover sandbox cgroups are emptied (processes killed) and removed, and folders of warm
 * pool sandboxes (never recorded) are deleted.
 */
export async function recoverAtStart(store: StateStore, home: string, cgroupParent: string | undefined, logger: Logger): Promise<RecoveryResult> {
  const report = store.markAllRunningAsStopped();
  let orphanCgroups: string[] = [];
  try {
    orphanCgroups = await new CgroupDriver(cgroupParent === undefined ? {} : { parent: cgroupParent }).cleanupOrphans([]);
  } catch (err) {
    logger.debug({ err: (err as Error).message }, 'no sandbox cgroups to clean up');
  }
  const known = new Set(store.sandboxes.list().map((r) => r.id));
  const orphanDirs: string[] = [];
  const entries = await readdir(join(home, 'sandboxes'), { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory() || known.has(e.name)) continue;
    await removeSandboxDirs(sandboxDirs(home, e.name)).catch(() => undefined);
    orphanDirs.push(e.name);
  }
  if (report.sandboxIds.length + orphanCgroups.length + orphanDirs.length > 0) {
    logger.warn(
      { stopped: report.sandboxIds.length, orphan_cgroups: orphanCgroups.length, orphan_dirs: orphanDirs.length, sessions_detached: report.sessionsDetached },
      'recovered from an earlier run: sandboxes marked stopped (start them again with POST /v1/sandboxes/{id}/start)',
    );
  }
  return { stopped: report.sandboxIds, orphanCgroups, orphanDirs };
}
