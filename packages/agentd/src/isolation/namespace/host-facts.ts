import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CgroupDriver, CgroupProbe } from '../cgroup/index.js';
import type { ProbeCache } from '../types.js';
import { measureSystemEntries } from './host-layout.js';
import type { HostIds, LaunchInput } from './launch.js';
import type { SystemEntry } from './mounts.js';
import { DEFAULT_HOST_UID_RANGE, rangeProblem, type HostUidRange } from '../host-ids.js';
import type { NamespaceOptions } from './options.js';
import { fileKey } from './probe-key.js';
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
  /**
   * Set when the daemon is root: the range each sandbox gets its own host uid from (its last
   * uid kept for the probe), the probe's ids, and how to drop to a sandbox's ids.
   */
  uidRange?: HostUidRange;
  dropTo?: HostIds;
  dropWith?: LaunchInput['dropWith'];
  /** Why a root daemon cannot drop privileges (no way found): the backend is then unavailable. */
  dropProblem?: string;
}

/** The cache entry of `bwrap --version`. */
export const BWRAP_VERSION_CACHE_ENTRY = 'namespace-bwrap-version';

/** `bwrap --version`, or taken from `cache` when stored for this very file (same inode, size, times, mode). Display only. */
async function bwrapVersion(bwrap: string, cache: ProbeCache | undefined): Promise<string> {
  const key = cache === undefined ? undefined : fileKey(bwrap);
  const cached = key === undefined ? undefined : await cache?.get(BWRAP_VERSION_CACHE_ENTRY, key);
  if (cached?.ok === true && cached.detail !== undefined) return cached.detail;
  try {
    const version = (await run(bwrap, ['--version'], { timeout: 5000 })).stdout.trim();
    if (key !== undefined) await cache?.set(BWRAP_VERSION_CACHE_ENTRY, key, { ok: true, detail: version });
    return version;
  } catch (err) {
    return `unknown (${(err as Error).message})`;
  }
}

/** Host facts; with `cache`, bwrap's version may come from it (the only fact that costs a process). */
export async function gatherHostFacts(opts: NamespaceOptions, cgroups: CgroupDriver, cache?: ProbeCache): Promise<HostFacts> {
  // Independent of each other: measured at once.
  const [system, bwrap, cgroup] = await Promise.all([
    measureSystemEntries(),
    findExecutable(opts.bwrap_path ?? 'bwrap').then(async (path) => (path === undefined ? undefined : { path, version: await bwrapVersion(path, cache) })),
    cgroups.probe().then((probe) => ({ probe }), (err: unknown) => ({ problem: (err as Error).message })),
  ]);
  const facts: HostFacts = { system, cgroup: undefined };
  if (bwrap === undefined) {
    facts.bwrapProblem = opts.bwrap_path === undefined ? "bwrap not found in PATH (install the 'bubblewrap' package)" : `bwrap_path ${opts.bwrap_path} is not an executable`;
  } else {
    facts.bwrapPath = bwrap.path;
    facts.bwrapVersion = bwrap.version;
  }
  if ('probe' in cgroup) facts.cgroup = cgroup.probe;
  else facts.cgroupProblem = cgroup.problem;
  if (process.getuid?.() === 0) {
    const range = opts.host_uid_range ?? DEFAULT_HOST_UID_RANGE;
    const problem = await rangeProblem(range);
    if (problem !== undefined) facts.dropProblem = problem;
    // Sandboxes get start .. start+count-2; the last uid runs the backend's own probe.
    facts.uidRange = { start: range.start, count: range.count - 1 };
    const probeUid = range.start + range.count - 1;
    facts.dropTo = { uid: probeUid, gid: probeUid };
    // agentd-init's launcher drops to it (--uid/--gid) after joining the cgroup, right before exec'ing bwrap.
    facts.dropWith = { kind: 'launcher' };
  }
  return facts;
}
