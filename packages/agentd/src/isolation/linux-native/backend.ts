import { execFile, spawn } from 'node:child_process';
import { chmod, lstat, mkdir, open, realpath, stat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { AgentdError } from '../../core/errors.js';
import { spawnInit } from '../../channel/spawn.js';
import { nativePaths } from '../../native-paths.js';
import type { Logger } from '../../util/logger.js';
import { CgroupDriver, cgroupLimits, type CgroupProbe } from '../cgroup/index.js';
import { ensureSandboxDirs } from '../dirs.js';
import { unmountVolume, volumePaths } from '../disk/volume.js';
import { BackendVolumes } from '../disk/volumes.js';
import { sandboxBaseEnv } from '../exec-env.js';
import { closeHostPaths, isSameOrUnder, NO_HOST_PATHS, openHostPath, rulesForMount, type HostPathRules, type PinnedHostPath } from '../host-paths.js';
import { DEFAULT_HOST_UID_RANGE, HostUidAllocator, rangeProblem, type HostIds, type HostUidRange } from '../host-ids.js';
import { InitSandbox } from '../init-sandbox.js';
import { wantedHostMounts } from '../namespace/mounts.js';
import { ensureSearchable } from '../namespace/sandbox-files.js';
import type { BackendFactoryContext, BackendProbe, FeatureStatus, IsolationBackend, SandboxHandle, SandboxSpec, StartOptions } from '../types.js';
import { parseLinuxNativeOptions, type LinuxNativeOptions } from './options.js';
import { candidatePaths, landlockRules, type Rule } from './rules.js';

const run = promisify(execFile);

/** The Landlock ABI the rules need (native/init/landlock.h LL_MIN_ABI): 6, for scoped signals and abstract Unix sockets. */
export const MIN_LANDLOCK_ABI = 6;
/** The search path of a linux-native command: the host's system folders. */
const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';

const ok = (detail: string): FeatureStatus => ({ ok: true, detail });
const no = (detail: string): FeatureStatus => ({ ok: false, detail });

/** The compiled seccomp filters next to the namespace one: the base filter, and the one that also refuses inet and Unix sockets (network none). */
export function seccompFilters(): { base: string; noSockets: string } {
  const base = nativePaths().seccompBpf;
  return { base, noSockets: join(dirname(base), 'seccomp-nosock.bpf') };
}

/** What the backend learns once: the kernel's Landlock ABI, cgroups, which system entries exist, the uid range. */
interface Facts {
  abi: number;
  abiProblem?: string;
  cgroup: CgroupProbe | undefined;
  cgroupProblem?: string;
  existing: Set<string>;
  etcLinks: Map<string, string>;
  /** Root daemon: each sandbox gets its own uid from here (the last one runs the probe). */
  uidRange?: HostUidRange;
  probeIds?: HostIds;
  dropProblem?: string;
}

async function landlockAbi(initPath: string): Promise<{ abi: number; problem?: string }> {
  try {
    const { stdout } = await run(initPath, ['--landlock-abi'], { timeout: 5000 });
    const abi = Number(stdout.trim());
    if (!Number.isInteger(abi)) return { abi: 0, problem: `agentd-init --landlock-abi printed '${stdout.trim()}'` };
    if (abi === 0) return { abi, problem: 'Landlock is not enabled in this kernel (CONFIG_SECURITY_LANDLOCK, lsm=landlock)' };
    if (abi < MIN_LANDLOCK_ABI) return { abi, problem: `Landlock ABI ${abi} is lower than ${MIN_LANDLOCK_ABI}, which the rules need (scoped signals and abstract Unix sockets, Linux 6.12)` };
    return { abi };
  } catch (err) {
    return { abi: 0, problem: `agentd-init --landlock-abi failed (${(err as Error).message}); build it with 'npm run build:native'` };
  }
}

/** Candidate entries that exist (not symlinks), and /etc entries that are symlinks with their resolved target. */
async function existingEntries(): Promise<{ existing: Set<string>; etcLinks: Map<string, string> }> {
  const existing = new Set<string>();
  const etcLinks = new Map<string, string>();
  await Promise.all(candidatePaths().map(async (p) => {
    const st = await lstat(p).catch(() => undefined);
    if (st === undefined) return;
    if (!st.isSymbolicLink()) {
      existing.add(p);
      return;
    }
    if (!p.startsWith('/etc/')) return;
    const target = await realpath(p).catch(() => undefined);
    const tst = target === undefined ? undefined : await lstat(target).catch(() => undefined);
    if (target !== undefined && tst !== undefined && (tst.isFile() || tst.isDirectory())) etcLinks.set(p, target);
  }));
  return { existing, etcLinks };
}

/**
 * linux-native (alias landlock): no namespaces. agentd-init runs on the host as the sandbox's
 * own unprivileged host uid, in its own cgroup, with no_new_privs, the project's seccomp filter
 * and a Landlock ruleset built from the sandbox's paths (rules.ts), applied by its launcher
 * (native/init/landlock.c) right before it execs the init. For hosts where user namespaces are
 * disabled. It cannot isolate processes (the host's pid namespace), nor hide paths (the view is
 * the host's, only access is denied), nor swap the root file system (no images, no root inside).
 */
export class LinuxNativeBackend implements IsolationBackend {
  readonly name = 'linux-native';
  readonly isolation = 'kernel' as const;
  private readonly options: LinuxNativeOptions;
  private readonly cgroups: CgroupDriver;
  private facts: Promise<Facts> | undefined;
  private uids: HostUidAllocator | undefined;
  private readonly searchable = new Set<string>();
  /** Per-sandbox disk volumes as the namespace backend's, with spares made ahead (a daemon's backend only: opened by prepareHome). */
  private readonly volumes: BackendVolumes;

  constructor(
    private readonly initPath: string,
    private readonly logger: Logger,
    options: Record<string, unknown> = {},
  ) {
    this.options = parseLinuxNativeOptions(options);
    this.cgroups = new CgroupDriver(this.options.cgroup_parent === undefined ? {} : { parent: this.options.cgroup_parent });
    // A folder of its own: a namespace backend of the same home keeps its spares in 'volume-spares'.
    this.volumes = new BackendVolumes('linux-native', 'volume-spares-linux-native', logger);
  }

  private hostFacts(): Promise<Facts> {
    this.facts ??= this.gather().catch((err: unknown) => {
      this.facts = undefined;
      throw err;
    });
    return this.facts;
  }

  private async gather(): Promise<Facts> {
    const [ll, entries, cg] = await Promise.all([
      landlockAbi(this.initPath),
      existingEntries(),
      this.cgroups.probe().then((probe) => ({ probe }), (err: unknown) => ({ problem: (err as Error).message })),
    ]);
    const facts: Facts = { abi: ll.abi, existing: entries.existing, etcLinks: entries.etcLinks, cgroup: 'probe' in cg ? cg.probe : undefined };
    if (ll.problem !== undefined) facts.abiProblem = ll.problem;
    if ('problem' in cg) facts.cgroupProblem = cg.problem;
    if (process.getuid?.() === 0) {
      const range = this.options.host_uid_range ?? DEFAULT_HOST_UID_RANGE;
      const problem = await rangeProblem(range);
      if (problem !== undefined) facts.dropProblem = problem;
      facts.uidRange = { start: range.start, count: range.count - 1 };
      const probeUid = range.start + range.count - 1;
      facts.probeIds = { uid: probeUid, gid: probeUid };
    }
    return facts;
  }

  /** A trial launch with the full confinement (as the probe uid under a root daemon): agentd-init --version must run under it. */
  private async trial(facts: Facts): Promise<FeatureStatus> {
    const filters = seccompFilters();
    const filter = await open(filters.noSockets, 'r').catch(() => undefined);
    if (filter === undefined) return no(`seccomp filter ${filters.noSockets} is missing (npm run build:native)`);
    try {
      const argv = ['--launch'];
      if (facts.probeIds !== undefined) argv.push('--uid', String(facts.probeIds.uid), '--gid', String(facts.probeIds.gid));
      for (const d of ['/usr', '/lib', '/lib64']) if (facts.existing.has(d)) argv.push('--landlock', `${d}=rx`);
      argv.push('--landlock', `${this.initPath}=rx`, '--landlock-net', 'none', '--seccomp-fd', '3', '--', this.initPath, '--version');
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(this.initPath, argv, { cwd: '/', env: { PATH: SANDBOX_PATH }, stdio: ['ignore', 'ignore', 'pipe', filter.fd], timeout: 10_000 });
        let errText = '';
        child.stderr?.setEncoding('utf8').on('data', (d: string) => { errText = (errText + d).slice(-2000); });
        child.on('error', (err) => resolve({ code: null, stderr: err.message }));
        child.on('close', (c) => resolve({ code: c, stderr: errText }));
      });
      return code === 0 ? ok('a trial launch under the full ruleset, no_new_privs and seccomp ran agentd-init') : no(`trial launch failed: ${stderr.trim().split('\n').pop() ?? `exit ${String(code)}`}`);
    } finally {
      await filter.close();
    }
  }

  async probe(): Promise<BackendProbe> {
    const [facts, disk] = await Promise.all([this.hostFacts(), this.volumes.tools()]);
    const landlock = facts.abiProblem === undefined ? ok(`Landlock ABI ${facts.abi} (needs ${MIN_LANDLOCK_ABI}): file system, TCP bind/connect, scoped signals and abstract Unix sockets`) : no(facts.abiProblem);
    const filters = seccompFilters();
    const seccompOk = await Promise.all([filters.base, filters.noSockets].map((f) => lstat(f).then((s) => s.isFile(), () => false)));
    const seccomp = seccompOk.every(Boolean)
      ? ok("the project's filter (as the namespace backend's), loaded by the launcher after no_new_privs; under network 'none' also no socket(AF_INET/AF_INET6/AF_UNIX)")
      : no(`seccomp filters missing (${filters.base}, ${filters.noSockets}): npm run build:native`);
    const trial = landlock.ok && seccomp.ok && facts.dropProblem === undefined ? await this.trial(facts) : no(landlock.ok ? (seccomp.ok ? facts.dropProblem ?? '' : seccomp.detail ?? '') : landlock.detail ?? '');
    const cg = facts.cgroup;
    const controller = (name: 'memory' | 'pids' | 'cpu' | 'freezer'): FeatureStatus => cg?.controllers[name] ?? no(facts.cgroupProblem ?? 'no cgroup probe');
    const problems = [landlock, seccomp, trial].filter((s) => !s.ok).map((s) => s.detail ?? '');
    if (facts.dropProblem !== undefined && !problems.includes(facts.dropProblem)) problems.push(facts.dropProblem);
    const hostUid = facts.uidRange === undefined
      ? no(`the daemon is not root: sandboxes run as its own uid ${String(process.getuid?.())} (Landlock still confines them; signal scoping keeps them off the daemon)`)
      : ok(`each sandbox runs as its own host uid from ${facts.uidRange.start}..${facts.uidRange.start + facts.uidRange.count - 1} (shared lease folder with the namespace backend); the probe runs as ${facts.probeIds?.uid ?? '?'}`);
    return {
      backend: this.name,
      available: problems.length === 0,
      ...(problems.length > 0 ? { reason: problems.join('; ') } : {}),
      isolation: 'kernel',
      features: {
        filesystem: landlock.ok
          ? ok("Landlock: workspace, home, tmp read-write; /usr and /lib* read+execute; listed /etc entries read-only; host paths per ro/rw; everything else EACCES. Not hidden: the view is the host's (a path outside the rules can still be looked up, stat answers where Unix permissions allow; only opening, listing, executing and changing it is denied)")
          : no(landlock.detail ?? ''),
        network: landlock.ok
          ? ok("network 'none': Landlock denies every TCP bind and connect, seccomp refuses inet and Unix sockets (UDP, ICMP, raw and pathname Unix sockets are not covered by Landlock's network rules); 'host' = the host's network; 'allowlist' and ports refused (no network namespace)")
          : no(landlock.detail ?? ''),
        pidNamespace: no("none: the sandbox shares the host's pid namespace and sees every host process in /proc (command lines, status); signals and ptrace to processes outside it are refused (Landlock scoping, seccomp, its own uid)"),
        seccomp,
        memoryLimit: controller('memory'),
        pidsLimit: controller('pids'),
        cpuLimit: controller('cpu'),
        suspend: controller('freezer'),
        diskLimit: disk.tools !== undefined && facts.uidRange !== undefined
          ? ok('per-sandbox ext4 image, loop-mounted nosuid,nodev on the host; workspace, home and tmp inside it')
          : no(disk.problem ?? 'needs a root daemon'),
        landlock,
        trialLaunch: trial,
        hostUid,
        noNewPrivs: ok('set by the launcher before the ruleset is applied'),
        images: no("no root file system swap: backend 'linux-native' runs on the host's own /usr and /etc; a sandbox with an image is refused"),
        rootInside: no('no user namespace: root inside would be host root, so it is never offered'),
        ports: no('no network namespace: ports are refused'),
        networkNamespace: no("none: the host's interfaces stay listed (/proc/net), and network 'none' has no loopback of its own (no socket at all)"),
        hiddenPaths: no('deny paths under an allowed path cannot be hidden (refused); other paths are only denied, not hidden'),
        rlimits: ok('open files and core size, set by the launcher'),
      },
    };
  }

  /**
   * Daemon start (the backend-agnostic recovery of issue 13 calls it on every backend): a
   * crashed daemon's linux-native sandboxes have no pid namespace to end with it, so their
   * background commands may still run in their cgroups. Thaws, kills and removes the leftover
   * groups of this home's sandboxes (`ours`) under this backend's parent, and unmounts the disk
   * volumes of the sandboxes that were running. One bad leftover is logged, the rest go on.
   */
  async recover(ctx: {
    ours: ReadonlySet<string>;
    stopped: ReadonlyArray<{ id: string; dirs: SandboxSpec['dirs'] }>;
    logger: { warn(obj: object, msg?: string): void };
  }): Promise<{ cgroups: string[]; other: string[] }> {
    const warn = (what: string, id?: string) => (err: unknown): void => ctx.logger.warn({ ...(id === undefined ? {} : { sandbox: id }), err: (err as Error).message }, what);
    const cgroups: string[] = [];
    const ids = await this.cgroups.list().catch((err: unknown) => {
      warn('could not list the linux-native sandbox cgroups')(err);
      return [] as string[];
    });
    for (const id of ids) {
      if (!ctx.ours.has(id)) continue;
      try {
        const group = await this.cgroups.attach(id);
        if (group === undefined) continue;
        if (await group.isFrozen()) await group.thaw({ timeoutMs: 2000 }).catch(() => undefined);
        await group.killAll();
        await group.remove();
        cgroups.push(id);
      } catch (err) {
        warn('could not clean up a leftover sandbox cgroup', id)(err);
      }
    }
    for (const { id, dirs } of ctx.stopped) {
      await unmountVolume(volumePaths(dirs.root).mountPoint).catch(warn('could not unmount the volume of a stopped sandbox', id));
    }
    return { cgroups, other: [] };
  }

  /** See NamespaceBackend.cleanupOrphans: cgroups of sandboxes a crashed daemon left behind. */
  cleanupOrphans(keepIds: Iterable<string>, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    return this.cgroups.cleanupOrphans(keepIds, opts);
  }

  async prepareHome(sandboxesDir: string): Promise<void> {
    const facts = await this.hostFacts();
    if (facts.uidRange === undefined) return;
    await this.volumes.openSpares(sandboxesDir);
    const home = dirname(sandboxesDir);
    const st = await stat(home);
    if ((st.mode & 0o001) === 0) await chmod(home, (st.mode & 0o7777) | 0o011);
    await mkdir(sandboxesDir, { recursive: true, mode: 0o711 });
    await ensureSearchable(join(sandboxesDir, 'probe'), facts.uidRange.start);
  }

  /** Refuses what this backend cannot do, before anything is made on the host. */
  private refuseUnsupported(spec: SandboxSpec, facts: Facts): void {
    if (facts.abiProblem !== undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `backend 'linux-native' is unavailable: ${facts.abiProblem}`);
    if (facts.dropProblem !== undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `backend 'linux-native' is unavailable: ${facts.dropProblem}`);
    if (spec.image !== undefined) {
      throw new AgentdError('ISOLATION_REQUIRED', `backend 'linux-native' cannot run image '${spec.image.name}': it has no root file system of its own (the host's /usr and /etc); use backend 'namespace'`, {
        details: { rule: 'images', backend: this.name, image: spec.image.name },
      });
    }
    if (spec.network === 'allowlist') {
      throw new AgentdError('ISOLATION_REQUIRED', "backend 'linux-native' cannot enforce network 'allowlist' (no network namespace to route traffic through the egress proxy); use network 'none', or backend 'namespace'", {
        details: { rule: 'network', backend: this.name, network: spec.network },
      });
    }
    if ((spec.ports?.length ?? 0) > 0) {
      throw new AgentdError('ISOLATION_REQUIRED', "backend 'linux-native' cannot expose ports (no network namespace: a sandbox's port would be the host's); use backend 'namespace'", {
        details: { rule: 'ports', backend: this.name },
      });
    }
  }

  /** Unmounts and removes the spare volumes (the daemon stops). */
  async close(): Promise<void> {
    await this.volumes.close();
  }

  start(requested: SandboxSpec, opts: StartOptions = {}): Promise<SandboxHandle> {
    return this.volumes.around(requested, () => this.startSandbox(requested, opts));
  }

  private async startSandbox(requested: SandboxSpec, opts: StartOptions): Promise<SandboxHandle> {
    if (opts.signal?.aborted) throw new AgentdError('CANCELLED', 'sandbox start cancelled', { cause: opts.signal.reason });
    const facts = await this.hostFacts();
    this.refuseUnsupported(requested, facts);
    const rules = opts.hostPaths ?? NO_HOST_PATHS;
    const spec = rules.config.denyPaths.length === 0 ? requested : { ...requested, denyPaths: [...new Set([...rules.config.denyPaths, ...requested.denyPaths])] };
    const wanted = wantedHostMounts(spec, rules.config);
    // Everything that can be refused is refused before touching the host.
    landlockRules({ spec, initPath: this.initPath, existing: facts.existing, etcLinks: facts.etcLinks, hostPaths: wanted, denyPaths: spec.denyPaths });
    checkWorkdir(spec, wanted);
    const cgroupUsable = facts.cgroup !== undefined && Object.values(facts.cgroup.controllers).some((c) => c.ok);
    if (!cgroupUsable && cgroupLimits(spec.limits).length > 0) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `backend 'linux-native' cannot enforce limits here: no usable cgroup (${facts.cgroupProblem ?? 'see agentd doctor'})`, {
        details: { limits: cgroupLimits(spec.limits).map((l) => l.field) },
      });
    }
    if (cgroupUsable) void this.cgroups.primeAttach();
    const ids = facts.uidRange === undefined ? undefined : await this.hostIds(spec, facts.uidRange);
    // A disk volume is owned by the sandbox's uid: a root daemon only.
    await this.volumes.prepare(spec, opts.signal, ids === undefined ? 'needs a root daemon' : undefined);
    await ensureSandboxDirs(spec.dirs, ids === undefined ? {} : { owner: ids, mode: 0o700 });
    if (ids !== undefined && !this.searchable.has(dirname(spec.dirs.root))) {
      await ensureSearchable(spec.dirs.root, ids.uid);
      this.searchable.add(dirname(spec.dirs.root));
    }
    const cgroup = cgroupUsable ? await this.cgroups.create(spec.id, spec.limits) : undefined;
    let pinned: PinnedHostPath[] = [];
    try {
      pinned = await pinHostPaths(wanted, rules);
      // Rules name the pinned descriptors (fds 4...): what was checked is what is allowed.
      const ruleList = landlockRules({ spec, initPath: this.initPath, existing: facts.existing, etcLinks: facts.etcLinks, hostPaths: wanted, denyPaths: spec.denyPaths });
      const filters = seccompFilters();
      const filterPath = spec.network === 'none' ? filters.noSockets : filters.base;
      const filter = await open(filterPath, 'r').catch((err: Error) => {
        throw new AgentdError('BACKEND_UNAVAILABLE', `seccomp filter ${filterPath} cannot be read (${err.message}); build it with 'npm run build:native'`, { cause: err });
      });
      const env = linuxNativeEnv(spec);
      let started;
      try {
        started = await spawnInit(launchArgv({ initPath: this.initPath, spec, cgroupProcs: cgroup?.procsFiles ?? [], ids, rules: ruleList }), {
          cwd: spec.workdir ?? spec.dirs.workspace,
          env,
          extraFds: [filter.fd, ...pinned.map((p) => p.handle.fd)],
          logger: this.logger,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } finally {
        await filter.close();
      }
      return new InitSandbox(this.name, spec, env, started.channel, started.child, cgroup, this.logger);
    } catch (err) {
      await cgroup?.remove().catch(() => undefined);
      throw err;
    } finally {
      await closeHostPaths(pinned);
    }
  }

  private async hostIds(spec: SandboxSpec, range: HostUidRange): Promise<HostIds> {
    this.uids ??= new HostUidAllocator(range);
    const legacy = await lstat(spec.dirs.workspace).catch(() => undefined);
    const preferred = legacy !== undefined && legacy.isDirectory() && legacy.uid !== 0 ? legacy.uid : undefined;
    return this.uids.acquire(spec.dirs.root, spec.id, preferred);
  }
}

/**
 * The launcher enters the workdir as root, before it drops to the sandbox's uid: a workdir must
 * lie in the sandbox's own folders or an allowed host path, never elsewhere on the host (a
 * directory handle taken as root would skip the permission checks of the folders above it).
 */
function checkWorkdir(spec: SandboxSpec, wanted: ReadonlyArray<{ target: string }>): void {
  const dir = spec.workdir;
  if (dir === undefined) return;
  const roots = [spec.dirs.workspace, spec.dirs.home, spec.dirs.tmp, ...wanted.map((w) => w.target)];
  if (!posix.isAbsolute(dir) || posix.normalize(dir) !== dir || !roots.some((r) => isSameOrUnder(dir, r))) {
    throw new AgentdError('INVALID_ARGUMENT', `workdir '${dir}': backend 'linux-native' runs in the host's view, so the workdir must be an absolute, normalised path in the sandbox's workspace (${spec.dirs.workspace}), home, tmp or an allowed host path`, {
      details: { field: 'workdir', workdir: dir, backend: 'linux-native' },
    });
  }
}

/** The environment of the init and base of every exec: HOME and TMPDIR are the sandbox's host folders. */
export function linuxNativeEnv(spec: SandboxSpec): Record<string, string> {
  return sandboxBaseEnv({ path: SANDBOX_PATH, home: spec.dirs.home, tmp: spec.dirs.tmp, user: 'agent' }, spec.env);
}

/** The fd the launcher reads the seccomp filter from; pinned host paths follow (4, 5, ...). */
const SECCOMP_FD = 3;

/**
 * `agentd-init --launch --cgroup-procs F... --rlimit ... [--uid U --gid G] --landlock ... --landlock-net M --seccomp-fd 3 -- INIT --fs-root / --subreaper`.
 * The launcher joins the cgroup and sets limits as root, opens the rule paths, drops to the
 * sandbox's uid, sets no_new_privs, restricts itself to the ruleset, loads seccomp, then execs the init.
 */
export function launchArgv(inp: { initPath: string; spec: SandboxSpec; cgroupProcs: readonly string[]; ids: HostIds | undefined; rules: readonly Rule[] }): string[] {
  const { spec } = inp;
  const argv = [inp.initPath, '--launch'];
  for (const f of inp.cgroupProcs) argv.push('--cgroup-procs', f);
  argv.push('--rlimit', `core=${spec.limits.coreBytes ?? 0}`);
  if (spec.limits.openFiles !== undefined) argv.push('--rlimit', `nofile=${spec.limits.openFiles}`);
  if (inp.ids !== undefined) argv.push('--uid', String(inp.ids.uid), '--gid', String(inp.ids.gid));
  for (const r of inp.rules) {
    if ('pinned' in r) argv.push('--landlock-fd', `${SECCOMP_FD + 1 + r.pinned}=${r.access}`);
    else argv.push('--landlock', `${r.path}=${r.access}`);
  }
  argv.push('--landlock-net', spec.network === 'none' ? 'none' : 'host', '--seccomp-fd', String(SECCOMP_FD));
  argv.push('--', inp.initPath, '--fs-root', '/', '--subreaper');
  return argv;
}

async function pinHostPaths(wanted: ReturnType<typeof wantedHostMounts>, rules: HostPathRules): Promise<PinnedHostPath[]> {
  const settled = await Promise.allSettled(wanted.map((w) => openHostPath(w.given, rulesForMount(rules, w.local === true), w.what)));
  const got = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await closeHostPaths(got);
    throw failed.reason;
  }
  return got;
}

export function createLinuxNativeBackend(ctx: BackendFactoryContext): IsolationBackend {
  return new LinuxNativeBackend(ctx.initPath, ctx.logger, ctx.options);
}
