/**
 * Start-up recovery for the OCI backends (oci, oci-runc, oci-crun, gvisor): a container in
 * one of this home's runtime state folders (`<home>/oci/<runtime>`) cannot be a live sandbox
 * of this daemon (the home is locked, the daemon just started), so each is killed and deleted
 * (`delete --force`: the runtime kills the container's processes and removes its cgroup).
 * Normally there is none: a killed daemon closes its inits' stdin, each init then exits and
 * its foreground runtime deletes the container. This catches the rest (a runtime killed with
 * the daemon, a gVisor sandbox). Independent of which backend is the daemon's default.
 */
import { lstat } from 'node:fs/promises';
import type { Logger } from '../../util/logger.js';
import { findExecutable } from '../namespace/which.js';
import { crunWorkaround, deleteContainer, listContainers, runtimeRootOfHome, RUNTIME_PATH, type OciRuntime, type RuntimeKind } from './runtime.js';

/** Deletes every container in the home's runtime state folders whose id is not in `keepIds`; returns the ids removed, by runtime. */
export async function removeOciLeftovers(home: string, logger: Logger, keepIds: Iterable<string> = []): Promise<Record<string, string[]>> {
  const keep = new Set(keepIds);
  const removed: Record<string, string[]> = {};
  for (const kind of ['runc', 'crun', 'runsc'] as RuntimeKind[]) {
    const root = runtimeRootOfHome(home, kind);
    if ((await lstat(root).catch(() => undefined)) === undefined) continue;
    const path = await findExecutable(kind, RUNTIME_PATH);
    if (path === undefined) {
      logger.warn({ runtime: kind, root }, 'containers may be left in this state folder, but the runtime is not installed any more');
      continue;
    }
    const rt: OciRuntime = { kind, path, root, flags: [], wrap: kind === 'crun' ? await crunWorkaround() : [] };
    try {
      for (const id of await listContainers(rt)) {
        if (keep.has(id)) continue;
        await deleteContainer(rt, id);
        (removed[kind] ??= []).push(id);
      }
    } catch (err) {
      logger.warn({ runtime: kind, root, err: (err as Error).message }, 'could not remove the containers an earlier daemon left');
    }
  }
  if (Object.keys(removed).length > 0) logger.warn({ containers: removed }, 'removed containers an earlier daemon left');
  return removed;
}
