/**
 * Finds the host's cgroup hierarchies, reports what they can enforce, and creates, attaches
 * and cleans up per-sandbox groups under a parent group (`agentd` by default) in each.
 */
import { mkdirSync } from 'node:fs';
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import type { FeatureStatus, SandboxLimits } from '../types.js';
import { exists, isMissing, readOptional, writeAccessProblem, writeValue } from './fsio.js';
import { SandboxCgroup, type Placement, type SandboxCgroupPaths } from './group.js';
import { type CgroupLayout, type CgroupVersion, layoutFromMountinfo, layoutVersion, parseProcCgroup } from './layout.js';
import { cgroupLimits } from './limits.js';

export interface CgroupDriverOptions {
  /** Only cgroup mounts at or under this path are used (default `/sys/fs/cgroup`). */
  root?: string;
  /** Where to read the mount table (default `/proc/self/mountinfo`). */
  mountinfoPath?: string;
  /** Where to read this process's own cgroups, for the probe's report (default `/proc/self/cgroup`). */
  procCgroupPath?: string;
  /**
   * The parent group, relative to each hierarchy's mount (default `agentd`). Sandboxes live
   * in `<mount>/<parent>/<sandboxId>`. With v2 delegation (non-root), point it at a delegated
   * subtree that holds no processes of its own.
   */
  parent?: string;
}

export type CgroupController = 'memory' | 'pids' | 'cpu' | 'freezer';

export interface CgroupProbe {
  version: CgroupVersion;
  controllers: Record<CgroupController, FeatureStatus>;
  /** Atomic kill of a whole group (v2 cgroup.kill); without it killAll freezes and signals. */
  kill: FeatureStatus;
  /** This process's own cgroup paths, by controller ('' = cgroup2), for diagnostics. */
  self: Record<string, string>;
}

/** What probe() found, with the directories a sandbox group would use. */
interface Plan {
  probe: CgroupProbe;
  /** Controller -> hierarchy, for the controllers that are usable. */
  placements: { [K in keyof Omit<SandboxCgroupPaths, 'unified'>]?: { version: 1 | 2; mount: string } };
  /** The cgroup2 mount, when usable (writable). */
  unified?: string;
  /** v2 controllers that must be enabled in subtree_control down to the parent. */
  v2Enable: string[];
}

const SANDBOX_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkId(id: string): void {
  if (!SANDBOX_ID.test(id)) {
    throw new AgentdError('INVALID_ARGUMENT', `sandbox id '${id}' is not usable as a cgroup name (letters, digits, '_', '.', '-'; at most 128)`);
  }
}

const ok = (detail: string): FeatureStatus => ({ ok: true, detail });
const no = (detail: string): FeatureStatus => ({ ok: false, detail });

/** The parent group of sandbox cgroups unless a backend is configured with another. */
export const DEFAULT_CGROUP_PARENT = 'agentd';

export class CgroupDriver {
  readonly root: string;
  readonly parent: string;
  private readonly mountinfoPath: string;
  private readonly procCgroupPath: string;
  private lastPlan: Promise<Plan> | undefined;
  private priming: Promise<void> | undefined;
  private ownProcs: Promise<string | undefined> | undefined;

  constructor(opts: CgroupDriverOptions = {}) {
    this.root = opts.root ?? '/sys/fs/cgroup';
    this.parent = opts.parent ?? DEFAULT_CGROUP_PARENT;
    this.mountinfoPath = opts.mountinfoPath ?? '/proc/self/mountinfo';
    this.procCgroupPath = opts.procCgroupPath ?? '/proc/self/cgroup';
    if (this.parent === '' || this.parent.startsWith('/') || this.parent.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new AgentdError('INVALID_CONFIG', `cgroup parent '${this.parent}' must be a relative path without '.' or '..' segments`);
    }
  }

  async layout(): Promise<CgroupLayout> {
    return layoutFromMountinfo((await readOptional(this.mountinfoPath)) ?? '', this.root);
  }

  /**
   * What this host can enforce, each controller with the reason when it cannot. Creates the
   * (empty) parent group in each writable hierarchy, since that is where the checks apply.
   */
  async probe(): Promise<CgroupProbe> {
    this.lastPlan = this.plan();
    return (await this.lastPlan).probe;
  }

  /** The last probe's plan (the host's layout does not change while we run); probed once if none yet. */
  private cachedPlan(): Promise<Plan> {
    this.lastPlan ??= this.plan();
    return this.lastPlan;
  }

  private async plan(): Promise<Plan> {
    const layout = await this.layout();
    const version = layoutVersion(layout);
    const self = Object.fromEntries(parseProcCgroup((await readOptional(this.procCgroupPath)) ?? ''));
    const plan: Plan = {
      probe: { version, controllers: { memory: no(''), pids: no(''), cpu: no(''), freezer: no('') }, kill: no(''), self },
      placements: {},
      v2Enable: [],
    };
    const usable = new Map<string, string | undefined>(); // mount -> problem
    const problemOf = async (mount: string): Promise<string | undefined> => {
      if (!usable.has(mount)) usable.set(mount, await this.prepareParent(mount));
      return usable.get(mount);
    };

    let unifiedProblem: string | undefined = 'no cgroup2 hierarchy is mounted';
    let unifiedControllers: string[] = [];
    if (layout.unified !== undefined) {
      unifiedProblem = await problemOf(layout.unified);
      unifiedControllers = ((await readOptional(join(layout.unified, 'cgroup.controllers'))) ?? '').trim().split(/\s+/).filter(Boolean);
      if (unifiedProblem === undefined) plan.unified = layout.unified;
    }
    const notMounted = (c: string): string =>
      layout.unified === undefined
        ? `no cgroup hierarchy with controller '${c}' is mounted under ${this.root}`
        : `controller '${c}' is neither mounted as cgroup v1 under ${this.root} nor available in cgroup v2 (${layout.unified}/cgroup.controllers: "${unifiedControllers.join(' ')}")`;

    for (const c of ['memory', 'pids', 'cpu', 'cpuacct', 'freezer'] as const) {
      let status: FeatureStatus;
      const v1Mount = layout.v1[c];
      if (v1Mount !== undefined) {
        const problem = await problemOf(v1Mount);
        status = problem === undefined ? ok(`cgroup v1 at ${v1Mount}`) : no(problem);
        if (problem === undefined) plan.placements[c] = { version: 1, mount: v1Mount };
      } else if (layout.unified !== undefined && (c === 'freezer' || c === 'cpuacct' || unifiedControllers.includes(c))) {
        // cgroup.freeze and cpu.stat's usage_usec are core v2 files, present without any controller.
        const core = c === 'freezer' ? 'cgroup.freeze' : c === 'cpuacct' ? 'cpu.stat' : undefined;
        const missingCore = core !== undefined && unifiedProblem === undefined && !(await exists(join(layout.unified, this.parent, core)));
        if (unifiedProblem !== undefined) status = no(unifiedProblem);
        else if (missingCore) status = no(`the kernel's cgroup2 has no ${core} (needs Linux 5.2 or later)`);
        else {
          status = ok(`cgroup v2 at ${layout.unified}`);
          plan.placements[c] = { version: 2, mount: layout.unified };
          if (c !== 'freezer' && c !== 'cpuacct') plan.v2Enable.push(c);
        }
      } else {
        status = no(notMounted(c));
      }
      if (c !== 'cpuacct') plan.probe.controllers[c] = status;
    }

    const mem = plan.placements.memory;
    if (mem?.version === 1 && !(await exists(join(mem.mount, this.parent, 'memory.memsw.limit_in_bytes')))) {
      plan.probe.controllers.memory.detail += '; swap is not limited (no memory.memsw: swap accounting is off)';
    }
    if (plan.unified !== undefined && (await exists(join(plan.unified, this.parent, 'cgroup.kill')))) {
      plan.probe.kill = ok(`cgroup.kill in ${plan.unified}`);
    } else {
      plan.probe.kill = no(plan.unified === undefined ? unifiedProblem ?? 'no usable cgroup2 hierarchy' : 'the kernel has no cgroup.kill (needs Linux 5.14 or later); killAll freezes and signals instead');
    }
    return plan;
  }

  /** Makes `<mount>/<parent>`; undefined on success, else why this hierarchy cannot be used. */
  private async prepareParent(mount: string): Promise<string | undefined> {
    const dir = join(mount, this.parent);
    if (await exists(dir)) return writeAccessProblem(dir);
    const problem = await writeAccessProblem(mount);
    if (problem !== undefined) return problem;
    try {
      await mkdir(dir, { recursive: true });
      return undefined;
    } catch (err) {
      return `cannot create ${dir}: ${(err as Error).message}`;
    }
  }

  /**
   * Creates the sandbox's group in every usable hierarchy and applies the limits. A limit
   * whose controller is unusable throws LIMIT_UNSUPPORTED (naming the limit and the reason)
   * before anything is created. An existing empty group of the same id is reused; one with
   * processes in it is a CONFLICT.
   */
  /**
   * Starts, in the background, the kernel's wait that the first move of a process into a
   * cgroup pays. Moving a task takes the global cgroup_threadgroup_rwsem for writing, whose
   * first writer waits for an RCU grace period (7-15 ms measured on cgroup v1 here; writers
   * within the next grace period do not wait). A sandbox's launcher moves itself into the
   * sandbox's cgroups right before bwrap (on the critical path of every create), so the
   * backend calls this when a start begins: the daemon "moves" itself into the cgroup it is
   * already in (a no-op move that takes the same lock), while the sandbox's folders and
   * cgroup are being made, and the launcher's move then finds the grace period passed.
   * Errors are ignored (nothing depends on it). At most one in flight; the promise is for tests.
   */
  primeAttach(): Promise<void> {
    if (this.priming !== undefined) return this.priming;
    this.priming = this.ownProcsFile()
      .then((file) => (file === undefined ? undefined : writeValue(file, String(process.pid))))
      .catch(() => undefined)
      .finally(() => {
        this.priming = undefined;
      });
    return this.priming;
  }

  /** cgroup.procs of the daemon's own cgroup in one hierarchy sandboxes use (pids, freezer or cpu first: never a memory charge move). */
  private async ownProcsFile(): Promise<string | undefined> {
    this.ownProcs ??= this.cachedPlan().then((plan) => {
      for (const c of ['pids', 'freezer', 'cpu', 'memory'] as const) {
        const at = plan.placements[c];
        const own = at?.version === 1 ? plan.probe.self[c] : plan.probe.self[''];
        if (at !== undefined && own !== undefined && own.startsWith('/') && !own.split('/').includes('..')) return join(at.mount, own, 'cgroup.procs');
      }
      return undefined;
    });
    return this.ownProcs;
  }

  async create(sandboxId: string, limits: SandboxLimits = {}): Promise<SandboxCgroup> {
    checkId(sandboxId);
    const requested = cgroupLimits(limits);
    let plan = await this.cachedPlan();
    // A parent group removed behind our back (or a failed probe) is found again by probing afresh.
    if (!(await this.parentsExist(plan))) plan = await this.probe().then(() => this.cachedPlan());
    const refused = requested.filter((l) => plan.placements[l.controller] === undefined);
    if (refused.length > 0) {
      const reasons = refused.map((l) => `${l.field}=${l.value} needs the ${l.controller} controller: ${plan.probe.controllers[l.controller].detail}`);
      throw new AgentdError('LIMIT_UNSUPPORTED', `cannot enforce ${reasons.join('; ')}`, {
        details: { limits: refused.map((l) => l.field), reasons },
      });
    }
    const undelegated = await this.enableV2Controllers(plan);
    const blocked = requested.filter((l) => plan.placements[l.controller]?.version === 2 && undelegated.has(l.controller));
    if (blocked.length > 0) {
      const reasons = blocked.map((l) => `${l.field}=${l.value}: cannot delegate the ${l.controller} controller to sandbox groups: ${undelegated.get(l.controller)}`);
      throw new AgentdError('LIMIT_UNSUPPORTED', `cannot enforce ${reasons.join('; ')}`, { details: { limits: blocked.map((l) => l.field), reasons } });
    }
    const paths = this.pathsFor(plan, sandboxId);
    // A controller no limit asked for but that cannot be delegated only costs its usage figures.
    for (const c of undelegated.keys()) if ((c === 'memory' || c === 'pids' || c === 'cpu') && paths[c]?.version === 2) delete paths[c];
    const group = new SandboxCgroup(sandboxId, paths);
    try {
      // Synchronous: cgroupfs, no disk (see fsio.ts).
      for (const dir of group.dirs) mkdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        await group.remove().catch(() => undefined);
        throw new AgentdError('INTERNAL', `cannot create the cgroup of sandbox ${sandboxId}: ${(err as Error).message}`, { cause: err });
      }
      for (const dir of group.dirs) mkdirSync(dir, { recursive: true });
      if ((await group.pids()).length > 0) {
        throw new AgentdError('CONFLICT', `a cgroup for sandbox ${sandboxId} already exists and has processes; run cleanupOrphans first`, { details: { sandboxId } });
      }
    }
    try {
      await group.setLimits(limits);
    } catch (err) {
      await group.remove().catch(() => undefined);
      throw err;
    }
    return group;
  }

  /** The existing group of `sandboxId` (only the directories that exist), or undefined if there is none. */
  async attach(sandboxId: string): Promise<SandboxCgroup | undefined> {
    checkId(sandboxId);
    const layout = await this.layout();
    const paths: SandboxCgroupPaths = {};
    for (const c of ['memory', 'pids', 'cpu', 'cpuacct', 'freezer'] as const) {
      const mount = layout.v1[c];
      if (mount !== undefined && (await exists(join(mount, this.parent, sandboxId)))) paths[c] = { version: 1, dir: join(mount, this.parent, sandboxId) };
    }
    if (layout.unified !== undefined) {
      const dir = join(layout.unified, this.parent, sandboxId);
      if (await exists(dir)) {
        paths.unified = dir;
        const v2: Placement = { version: 2, dir };
        const enabled = ((await readOptional(join(dir, 'cgroup.controllers'))) ?? '').split(/\s+/);
        if (paths.memory === undefined && enabled.includes('memory')) paths.memory = v2;
        if (paths.pids === undefined && enabled.includes('pids')) paths.pids = v2;
        if (paths.cpu === undefined && enabled.includes('cpu')) paths.cpu = v2;
        paths.cpuacct ??= v2;
        paths.freezer ??= v2;
      }
    }
    const group = new SandboxCgroup(sandboxId, paths);
    return group.dirs.length === 0 ? undefined : group;
  }

  /** Ids of every sandbox group under the parent, in any hierarchy. */
  async list(): Promise<string[]> {
    const layout = await this.layout();
    const mounts = new Set([...Object.values(layout.v1), ...(layout.unified === undefined ? [] : [layout.unified])]);
    const ids = new Set<string>();
    for (const mount of mounts) {
      const entries = await readdir(join(mount, this.parent), { withFileTypes: true }).catch(() => []);
      for (const e of entries) if (e.isDirectory() && SANDBOX_ID.test(e.name)) ids.add(e.name);
    }
    return [...ids].sort();
  }

  /**
   * After a daemon crash: kills the processes of every group whose id is not in `keepIds`
   * and removes the group. Returns the ids removed.
   */
  async cleanupOrphans(keepIds: Iterable<string>, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    const keep = new Set(keepIds);
    const removed: string[] = [];
    const failed: { id: string; error: string }[] = [];
    for (const id of await this.list()) {
      if (keep.has(id)) continue;
      try {
        const group = await this.attach(id);
        if (group === undefined) continue;
        await group.killAll(opts);
        await group.remove(opts);
        removed.push(id);
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        // One stuck group must not keep the others alive: go on, report them all at the end.
        failed.push({ id, error: (err as Error).message });
      }
    }
    if (failed.length > 0) {
      throw new AgentdError('INTERNAL', `could not clean up ${failed.length} orphaned sandbox cgroup(s): ${failed.map((f) => `${f.id}: ${f.error}`).join('; ')}`, {
        details: { removed, failed },
      });
    }
    return removed;
  }

  /**
   * Removes the (empty) parent group from every hierarchy: for uninstalling, and for tests
   * that use a parent of their own. A parent that still holds sandbox groups is a CONFLICT.
   */
  async removeParent(): Promise<void> {
    const layout = await this.layout();
    const mounts = new Set([...Object.values(layout.v1), ...(layout.unified === undefined ? [] : [layout.unified])]);
    for (const mount of mounts) {
      const dir = join(mount, this.parent);
      try {
        await rmdir(dir);
      } catch (err) {
        if (isMissing(err)) continue;
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EBUSY' || code === 'ENOTEMPTY') throw new AgentdError('CONFLICT', `cgroup ${dir} still holds sandbox groups: ${(await this.list()).join(' ')}`, { cause: err });
        throw new AgentdError('INTERNAL', `cannot remove cgroup ${dir}: ${(err as Error).message}`, { cause: err });
      }
    }
    this.lastPlan = undefined;
  }

  private async parentsExist(plan: Plan): Promise<boolean> {
    const mounts = [...Object.values(plan.placements).map((p) => p.mount), ...(plan.unified === undefined ? [] : [plan.unified])];
    for (const mount of new Set(mounts)) if (!(await exists(join(mount, this.parent)))) return false;
    return true;
  }

  private pathsFor(plan: Plan, sandboxId: string): SandboxCgroupPaths {
    const paths: SandboxCgroupPaths = {};
    for (const [c, p] of Object.entries(plan.placements) as [keyof Plan['placements'], { version: 1 | 2; mount: string }][]) {
      paths[c] = { version: p.version, dir: join(p.mount, this.parent, sandboxId) };
    }
    if (plan.unified !== undefined) paths.unified = join(plan.unified, this.parent, sandboxId);
    return paths;
  }

  /**
   * v2 only delegates a controller to a child when every ancestor lists it in
   * cgroup.subtree_control. Returns the controllers that could not be delegated, with why.
   */
  private async enableV2Controllers(plan: Plan): Promise<Map<string, string>> {
    const failed = new Map<string, string>();
    if (plan.unified === undefined || plan.v2Enable.length === 0) return failed;
    let dir = plan.unified;
    for (const segment of ['', ...this.parent.split('/')]) {
      dir = join(dir, segment);
      const file = join(dir, 'cgroup.subtree_control');
      const enabled = ((await readOptional(file)) ?? '').trim().split(/\s+/);
      for (const c of plan.v2Enable) {
        if (enabled.includes(c) || failed.has(c)) continue;
        try {
          await writeValue(file, `+${c}`);
        } catch (err) {
          const busy = (err as AgentdError).details?.errno === 'EBUSY';
          failed.set(c, `writing '+${c}' to ${file} failed (${(err as Error).message})${
            busy ? '; on cgroup v2 a group that holds processes cannot delegate controllers: run the daemon in a leaf cgroup, or set the cgroup parent to a delegated subtree' : ''}`);
        }
      }
    }
    return failed;
  }

}
