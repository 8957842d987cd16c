/** One sandbox's cgroup: a directory per hierarchy, driven through the kernel's interface files. */
import { rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import type { SandboxLimits } from '../types.js';
import { exists, isMissing, readKeyed, readNumber, readOptional, sleep, writeValue, writeValueNow } from './fsio.js';
import { CPU_PERIOD_US, cgroupLimits, cpuQuotaUs } from './limits.js';

/** A controller's directory for this sandbox and the cgroup version of its hierarchy. */
export interface Placement {
  version: 1 | 2;
  dir: string;
}

export interface SandboxCgroupPaths {
  memory?: Placement;
  pids?: Placement;
  cpu?: Placement;
  /** Where CPU time is read: v1 cpuacct, or a v2 group's core cpu.stat. */
  cpuacct?: Placement;
  freezer?: Placement;
  /** The sandbox's group in the cgroup2 hierarchy (pure v2, or hybrid's controller-less one): cgroup.kill, cgroup.freeze. */
  unified?: string;
}

export interface CgroupUsage {
  memoryBytes?: number;
  memoryPeakBytes?: number;
  cpuUsec?: number;
  pids?: number;
  /** Processes killed by the cgroup's OOM killer so far (v1 memory.oom_control oom_kill, v2 memory.events oom_kill). */
  oomKills?: number;
  /** Times the memory limit was hit (v1 memory.failcnt, v2 memory.events max). */
  memoryLimitHits?: number;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** How long to wait for the kernel to confirm (default 5000 ms). */
  timeoutMs?: number;
}

const POLL_MS = 10;

function unsupported(what: string, id: string): AgentdError {
  return new AgentdError('LIMIT_UNSUPPORTED', `${what} is not available for sandbox ${id}: its controller has no cgroup here (see the cgroup probe)`, { details: { sandboxId: id } });
}

export class SandboxCgroup {
  constructor(
    readonly sandboxId: string,
    readonly paths: Readonly<SandboxCgroupPaths>,
  ) {}

  /** Every distinct directory of this sandbox, one per hierarchy. */
  get dirs(): string[] {
    const { memory, pids, cpu, cpuacct, freezer, unified } = this.paths;
    const all = [memory?.dir, pids?.dir, cpu?.dir, cpuacct?.dir, freezer?.dir, unified];
    return [...new Set(all.filter((d): d is string => d !== undefined))];
  }

  /**
   * The cgroup.procs files a launcher writes its own pid into before it execs the sandbox,
   * so the whole process tree is inside every hierarchy from the start (one per v1 controller).
   */
  get procsFiles(): string[] {
    return this.dirs.map((d) => join(d, 'cgroup.procs'));
  }

  get canFreeze(): boolean {
    return this.paths.freezer !== undefined;
  }

  /** Applies the cgroup-enforced fields of `limits` (memoryBytes, pids, cpus); other fields are left alone. */
  async setLimits(limits: SandboxLimits): Promise<void> {
    for (const limit of cgroupLimits(limits)) {
      const placement = this.paths[limit.controller];
      if (placement === undefined) throw unsupported(`limit ${limit.field}=${limit.value}`, this.sandboxId);
      switch (limit.controller) {
        case 'memory':
          await this.setMemory(placement, limit.value);
          break;
        case 'pids':
          writeValueNow(join(placement.dir, 'pids.max'), String(limit.value));
          break;
        case 'cpu':
          await this.setCpu(placement, limit.value);
          break;
      }
    }
  }

  private async setMemory({ version, dir }: Placement, bytes: number): Promise<void> {
    if (version === 2) {
      writeValueNow(join(dir, 'memory.max'), String(bytes));
      // No swap at all, so the limit is a limit on memory, not on memory minus what was swapped out.
      const swapMax = join(dir, 'memory.swap.max');
      if (await exists(swapMax)) writeValueNow(swapMax, '0');
      return;
    }
    const limitFile = join(dir, 'memory.limit_in_bytes');
    const memswFile = join(dir, 'memory.memsw.limit_in_bytes');
    if (!(await exists(memswFile))) {
      writeValueNow(limitFile, String(bytes));
      return;
    }
    // The kernel keeps memsw >= limit: lower the limit first, raise memsw first.
    const current = await readNumber(limitFile);
    if (current !== undefined && bytes > current) {
      writeValueNow(memswFile, String(bytes));
      writeValueNow(limitFile, String(bytes));
    } else {
      writeValueNow(limitFile, String(bytes));
      writeValueNow(memswFile, String(bytes));
    }
  }

  private async setCpu({ version, dir }: Placement, cpus: number): Promise<void> {
    const quota = cpuQuotaUs(cpus);
    if (version === 2) {
      writeValueNow(join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
      return;
    }
    writeValueNow(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    writeValueNow(join(dir, 'cpu.cfs_quota_us'), String(quota));
  }

  /** Pids of every process in the sandbox (the union over its hierarchies), ascending. */
  async pids(): Promise<number[]> {
    const found = new Set<number>();
    for (const file of this.procsFiles) {
      const text = await readOptional(file);
      for (const line of text?.split('\n') ?? []) {
        const pid = Number.parseInt(line, 10);
        if (pid > 0) found.add(pid);
      }
    }
    return [...found].sort((a, b) => a - b);
  }

  /** Stops every process in the sandbox and resolves once the kernel reports the group frozen. */
  async freeze(opts: WaitOptions = {}): Promise<void> {
    const freezer = this.paths.freezer;
    if (freezer === undefined) throw unsupported('suspend (cgroup freezer)', this.sandboxId);
    try {
      await this.setFrozen(freezer, true, opts);
    } catch (err) {
      // Never leave a group half-frozen behind an error.
      await this.setFrozen(freezer, false, { timeoutMs: 1000 }).catch(() => undefined);
      throw err;
    }
  }

  async thaw(opts: WaitOptions = {}): Promise<void> {
    const freezer = this.paths.freezer;
    if (freezer === undefined) throw unsupported('resume (cgroup freezer)', this.sandboxId);
    await this.setFrozen(freezer, false, opts);
  }

  async isFrozen(): Promise<boolean> {
    const freezer = this.paths.freezer;
    if (freezer === undefined) return false;
    if (freezer.version === 1) return (await readOptional(join(freezer.dir, 'freezer.state')))?.trim() === 'FROZEN';
    return (await readKeyed(join(freezer.dir, 'cgroup.events')))?.get('frozen') === 1;
  }

  private async setFrozen({ version, dir }: Placement, frozen: boolean, opts: WaitOptions): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    const request = (): Promise<void> =>
      version === 1
        ? writeValue(join(dir, 'freezer.state'), frozen ? 'FROZEN' : 'THAWED')
        : writeValue(join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
    await request();
    for (let round = 1; ; round++) {
      if ((await this.isFrozen()) === frozen) return;
      if (Date.now() >= deadline) {
        throw new AgentdError('TIMEOUT', `cgroup of sandbox ${this.sandboxId} did not become ${frozen ? 'frozen' : 'thawed'} in time (${dir})`);
      }
      await sleep(POLL_MS, opts.signal);
      // v1 may stay FREEZING when a task was busy in the kernel; asking again retries it.
      if (version === 1 && round % 10 === 0) await request();
    }
  }

  async usage(): Promise<CgroupUsage> {
    const { memory, pids, cpuacct } = this.paths;
    const usage: CgroupUsage = {};
    if (memory?.version === 1) {
      usage.memoryBytes = await readNumber(join(memory.dir, 'memory.usage_in_bytes'));
      usage.memoryPeakBytes = await readNumber(join(memory.dir, 'memory.max_usage_in_bytes'));
      usage.oomKills = (await readKeyed(join(memory.dir, 'memory.oom_control')))?.get('oom_kill');
      usage.memoryLimitHits = await readNumber(join(memory.dir, 'memory.failcnt'));
    } else if (memory?.version === 2) {
      usage.memoryBytes = await readNumber(join(memory.dir, 'memory.current'));
      usage.memoryPeakBytes = await readNumber(join(memory.dir, 'memory.peak'));
      const events = await readKeyed(join(memory.dir, 'memory.events'));
      usage.oomKills = events?.get('oom_kill');
      usage.memoryLimitHits = events?.get('max');
    }
    if (cpuacct?.version === 1) {
      const ns = await readNumber(join(cpuacct.dir, 'cpuacct.usage'));
      usage.cpuUsec = ns === undefined ? undefined : Math.floor(ns / 1000);
    } else if (cpuacct?.version === 2) {
      usage.cpuUsec = (await readKeyed(join(cpuacct.dir, 'cpu.stat')))?.get('usage_usec');
    }
    if (pids !== undefined) usage.pids = await readNumber(join(pids.dir, 'pids.current'));
    else if (this.dirs.length > 0) usage.pids = (await this.pids()).length;
    for (const key of Object.keys(usage) as (keyof CgroupUsage)[]) if (usage[key] === undefined) delete usage[key];
    return usage;
  }

  /**
   * Kills every process in the sandbox and resolves once none is left. Uses v2 cgroup.kill
   * where present (atomic, fork-proof); otherwise freezes the group so nothing can fork,
   * SIGKILLs every listed pid, thaws so the kills land, and repeats until the group is empty.
   */
  async killAll(opts: WaitOptions = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    const killFile = this.paths.unified === undefined ? undefined : join(this.paths.unified, 'cgroup.kill');
    if (killFile !== undefined && (await exists(killFile))) {
      await writeValue(killFile, '1');
      // A v1-frozen task only acts on the SIGKILL once thawed; cgroup.kill also kills anything forked meanwhile.
      if (this.paths.freezer?.version === 1 && (await this.isFrozen())) await this.thaw({ timeoutMs: 2000 });
      if (await this.waitEmpty(Math.min(deadline, Date.now() + 2000), opts.signal)) return;
    }
    while ((await this.pids()).length > 0) {
      if (Date.now() >= deadline) {
        throw new AgentdError('TIMEOUT', `processes of sandbox ${this.sandboxId} survived killAll: ${(await this.pids()).join(' ')}`);
      }
      const frozen = this.canFreeze && (await this.freeze({ timeoutMs: 2000, ...(opts.signal ? { signal: opts.signal } : {}) }).then(() => true, () => false));
      for (const pid of await this.pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      }
      if (frozen) await this.thaw({ timeoutMs: 2000 });
      await this.waitEmpty(Math.min(deadline, Date.now() + 500), opts.signal);
    }
  }

  private async waitEmpty(until: number, signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if ((await this.pids()).length === 0) return true;
      if (Date.now() >= until) return false;
      await sleep(POLL_MS, signal);
    }
  }

  /** `await using cg = await driver.create(...)` removes the group at scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.remove();
  }

  /** Kills what is left, then removes every directory of the group. Already-gone directories are fine. */
  async remove(opts: WaitOptions = {}): Promise<void> {
    if ((await this.pids()).length > 0) await this.killAll(opts);
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    for (const dir of this.dirs) {
      for (;;) {
        try {
          rmdirSync(dir);
          break;
        } catch (err) {
          if (isMissing(err)) break;
          // EBUSY: a dying task is still being released; it goes within milliseconds.
          if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() >= deadline) {
            throw new AgentdError('INTERNAL', `cannot remove cgroup ${dir}: ${(err as Error).message}`, { cause: err });
          }
          await sleep(POLL_MS, opts.signal);
        }
      }
    }
  }
}
