import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CgroupDriver, CgroupProbe } from '../cgroup/index.js';
import { measureSystemEntries } from './host-layout.js';
import type { HostIds, LaunchInput } from './launch.js';
import type { SystemEntry } from './mounts.js';
import { DEFAULT_HOST_ID, type NamespaceOptions } from './options.js';
import { findExecutable } from './which.js';

const run = promisify(execFile);

/** What the backend learns about the host once, before its first sandbox. */
export interface HostFacts {
  bwrapPath?: string;
  bwrapVersion?: string;
  /** Why bwrap cannot be used, when bwrapPath is undefined. */
  bwrapProblem?: string;
  system: SystemEntry[];
  cgroup: CgroupProbe | undefined;
  /** Why there is no cgroup probe at all (e.g. the probe threw). */
  cgroupProblem?: string;
  /** Set when the daemon is root: the host ids sandboxes run as, and how to drop to them. */
  dropTo?: HostIds;
  dropWith?: LaunchInput['dropWith'];
  /** Why a root daemon cannot drop privileges (no way found): the backend is then unavailable. */
  dropProblem?: string;
}

export async function gatherHostFacts(opts: NamespaceOptions, cgroups: CgroupDriver): Promise<HostFacts> {
  const facts: HostFacts = { system: await measureSystemEntries(), cgroup: undefined };
  const bwrap = await findExecutable(opts.bwrap_path ?? 'bwrap');
  if (bwrap === undefined) {
    facts.bwrapProblem = opts.bwrap_path === undefined ? "bwrap not found in PATH (install the 'bubblewrap' package)" : `bwrap_path ${opts.bwrap_path} is not an executable`;
  } else {
    facts.bwrapPath = bwrap;
    facts.bwrapVersion = await run(bwrap, ['--version'], { timeout: 5000 }).then(
      (r) => r.stdout.trim(),
      (err: Error) => `unknown (${err.message})`,
    );
  }
  try {
    facts.cgroup = await cgroups.probe();
  } catch (err) {
    facts.cgroupProblem = (err as Error).message;
  }
  if (process.getuid?.() === 0) {
    const uid = opts.host_uid ?? DEFAULT_HOST_ID;
    facts.dropTo = { uid, gid: opts.host_gid ?? uid };
    // agentd-init's launcher drops to it (--uid/--gid) after joining the cgroup, right before exec'ing bwrap.
    facts.dropWith = { kind: 'launcher' };
  }
  return facts;
}
