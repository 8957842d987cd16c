/**
 * The core's one way to run a backend's lifecycle hooks (types.ts IsolationBackend): each
 * optional hook the backend lacks is filled with the shared default here, so the sandbox
 * manager and the daemon's recovery call `lifecycleOf(backend).snapshot(...)` and never know
 * how a backend keeps its state. The defaults work for any backend whose whole state is its
 * SandboxDirs: workspace, home and tmp (plus an image layer, and a disk-limit volume mounted
 * for the call when the sandbox is stopped), as the namespace and host-direct backends do.
 *
 * Also the capability checks the core makes from a backend's probe, never from its name.
 */
import { AgentdError } from '../core/errors.js';
import { removeSandboxDirs } from './dirs.js';
import { withVolume } from './disk/volume.js';
import { createSnapshot, forkFromSnapshot, restoreSnapshot } from './snapshot/index.js';
import type { BackendProbe, BackendSnapshot, IsolationBackend, RecoverContext, RecoverReport, SandboxDirs, StateOpOptions } from './types.js';

/** Every lifecycle hook of a backend, its own or the default. */
export interface BackendLifecycle {
  snapshot(dirs: SandboxDirs, snapshotsRoot: string, snapshotId: string, opts: StateOpOptions & { sandboxId: string }): Promise<BackendSnapshot>;
  restore(snapshotDir: string, dirs: SandboxDirs, opts?: StateOpOptions): Promise<void>;
  fork(snapshotDir: string, newDirs: SandboxDirs, opts?: StateOpOptions): Promise<void>;
  removeFiles(dirs: SandboxDirs): Promise<void>;
  recover(ctx: RecoverContext): Promise<RecoverReport>;
}

/** Copies the sandbox's folders (and image layer) into `<snapshotsRoot>/<snapshotId>/` (snapshot/snapshot.ts). */
export async function defaultSnapshot(dirs: SandboxDirs, snapshotsRoot: string, snapshotId: string, opts: StateOpOptions & { sandboxId: string }): Promise<BackendSnapshot> {
  const info = await withVolume(dirs.root, () => createSnapshot(dirs, snapshotsRoot, snapshotId, opts), opts.signal);
  return { dir: info.dir, sizeBytes: info.manifest.size_bytes };
}

/** Puts the snapshot's folders (and layer) back into the stopped sandbox's. */
export async function defaultRestore(snapshotDir: string, dirs: SandboxDirs, opts: StateOpOptions = {}): Promise<void> {
  await withVolume(dirs.root, () => restoreSnapshot(snapshotDir, dirs, opts), opts.signal);
}

/** Seeds a new sandbox's folders from the snapshot (taken over by its first start). */
export async function defaultFork(snapshotDir: string, newDirs: SandboxDirs, opts: StateOpOptions = {}): Promise<void> {
  await forkFromSnapshot(snapshotDir, newDirs, opts);
}

const NOTHING_TO_RECOVER = async (): Promise<RecoverReport> => ({ cgroups: [] });

/** The backend's hooks, each its own or the shared default (bound to the backend); undefined (a backend no longer registered): the defaults. */
export function lifecycleOf(backend: IsolationBackend | undefined): BackendLifecycle {
  if (backend === undefined) return { snapshot: defaultSnapshot, restore: defaultRestore, fork: defaultFork, removeFiles: removeSandboxDirs, recover: NOTHING_TO_RECOVER };
  return {
    snapshot: backend.snapshot?.bind(backend) ?? defaultSnapshot,
    restore: backend.restore?.bind(backend) ?? defaultRestore,
    fork: backend.fork?.bind(backend) ?? defaultFork,
    removeFiles: backend.removeFiles?.bind(backend) ?? removeSandboxDirs,
    recover: backend.recover?.bind(backend) ?? NOTHING_TO_RECOVER,
  };
}

/**
 * Refuses an image on a backend whose probe does not offer images here: INVALID_ARGUMENT
 * when the backend has no such feature at all, BACKEND_UNAVAILABLE when it has, but not on
 * this host (the probe's reason is in the message). `probe` undefined: not probed, refused.
 */
export function assertRunsImages(backendName: string, probe: BackendProbe | undefined, image: string, prefix = ''): void {
  const feature = probe?.features.images;
  if (feature?.ok === true) return;
  if (feature === undefined) {
    throw new AgentdError('INVALID_ARGUMENT', `${prefix}backend '${backendName}' does not run images (its probe offers no 'images' feature; see 'agentd doctor')`, {
      details: { backend: backendName, image },
    });
  }
  throw new AgentdError('BACKEND_UNAVAILABLE', `${prefix}backend '${backendName}' does not run images on this host: ${feature.detail ?? 'unavailable'}`, {
    details: { backend: backendName, image, feature: 'images' },
  });
}

/** Refuses a snapshot, restore or fork on a backend whose probe says it cannot (absent feature: the shared default works). */
export function assertSnapshots(backendName: string, probe: BackendProbe | undefined, what: string): void {
  const feature = probe?.features.snapshot;
  if (feature === undefined || feature.ok) return;
  throw new AgentdError('BACKEND_UNAVAILABLE', `backend '${backendName}' cannot ${what} here: ${feature.detail ?? 'unavailable'}`, { details: { backend: backendName, feature: 'snapshot' } });
}
