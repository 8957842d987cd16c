/** Which cgroup controller enforces which SandboxLimits field, and the values' sanity checks. */
import { AgentdError } from '../../core/errors.js';
import type { SandboxLimits } from '../types.js';

/** The CFS period used for every quota (100 ms, the kernel default). */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses quotas below 1 ms. */
const MIN_CPU_QUOTA_US = 1_000;
const MIN_MEMORY_BYTES = 1024 * 1024;

export type LimitController = 'memory' | 'pids' | 'cpu';

export interface RequestedLimit {
  /** The SandboxLimits field. */
  field: 'memoryBytes' | 'pids' | 'cpus';
  controller: LimitController;
  value: number;
}

/**
 * The cgroup-enforced limits present in `limits` (openFiles and coreBytes are rlimits, set
 * by the launcher, not here). Throws INVALID_ARGUMENT for values the kernel would refuse.
 */
export function cgroupLimits(limits: SandboxLimits): RequestedLimit[] {
  const out: RequestedLimit[] = [];
  const { memoryBytes, pids, cpus } = limits;
  if (memoryBytes !== undefined) {
    if (!Number.isSafeInteger(memoryBytes) || memoryBytes < MIN_MEMORY_BYTES) {
      throw new AgentdError('INVALID_ARGUMENT', `limits.memoryBytes must be an integer of at least ${MIN_MEMORY_BYTES} (1 MiB); got ${memoryBytes}`);
    }
    out.push({ field: 'memoryBytes', controller: 'memory', value: memoryBytes });
  }
  if (pids !== undefined) {
    if (!Number.isSafeInteger(pids) || pids < 1) {
      throw new AgentdError('INVALID_ARGUMENT', `limits.pids must be a positive integer; got ${pids}`);
    }
    out.push({ field: 'pids', controller: 'pids', value: pids });
  }
  if (cpus !== undefined) {
    if (!Number.isFinite(cpus) || cpus * CPU_PERIOD_US < MIN_CPU_QUOTA_US) {
      throw new AgentdError('INVALID_ARGUMENT', `limits.cpus must be at least ${MIN_CPU_QUOTA_US / CPU_PERIOD_US} (a 1 ms quota per 100 ms period); got ${cpus}`);
    }
    out.push({ field: 'cpus', controller: 'cpu', value: cpus });
  }
  return out;
}

/** CFS quota in microseconds per CPU_PERIOD_US for `cpus` cores. */
export function cpuQuotaUs(cpus: number): number {
  return Math.max(MIN_CPU_QUOTA_US, Math.round(cpus * CPU_PERIOD_US));
}
