/** From the cgroup's counters to the backend-neutral SandboxUsage of isolation/types.ts. */
import type { SandboxUsage } from '../types.js';
import type { CgroupUsage } from './group.js';

/**
 * `oomKilled` is true when the OOM-kill counter grew since `previous` (the reading taken
 * before an exec, or the last report); without a previous reading, when it is above zero.
 */
export function toSandboxUsage(current: CgroupUsage, previous?: CgroupUsage): SandboxUsage {
  const usage: SandboxUsage = {};
  if (current.memoryBytes !== undefined) usage.memoryBytes = current.memoryBytes;
  if (current.memoryPeakBytes !== undefined) usage.memoryPeakBytes = current.memoryPeakBytes;
  if (current.cpuUsec !== undefined) usage.cpuUsec = current.cpuUsec;
  if (current.pids !== undefined) usage.pids = current.pids;
  if (current.oomKills !== undefined) usage.oomKilled = current.oomKills > (previous?.oomKills ?? 0);
  return usage;
}
