import { access, chmod, mkdir, open, stat } from 'node:fs/promises';
import { constants as fsConstants, lstatSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { spawnInit } from '../../channel/spawn.js';
import { nativePaths } from '../../native-paths.js';
import type { Logger } from '../../util/logger.js';
import { CgroupDriver, cgroupLimits, removeLeftoverCgroups } from '../cgroup/index.js';
import type { BackendFactoryContext, BackendProbe, IsolationBackend, ProbeCache, RecoverContext, RecoverReport, SandboxHandle, SandboxSpec, StartOptions } from '../types.js';
import { bwrapArgs, sandboxEnv } from './bwrap-args.js';
import { gatherHostFacts, type HostFacts } from './host-facts.js';
import { launchArgv } from './launch.js';
import { closeHostPaths, NO_HOST_PATHS, openHostPath, rulesForMount, type HostPathRules, type PinnedHostPath } from '../host-paths.js';
import { baseMounts, hostPathOf, planMounts, wantedHostMounts, type PathKind } from './mounts.js';
import { parseNamespaceOptions, type NamespaceOptions } from './options.js';
import { probeNamespace } from './probe.js';
import { ensureSearchable, kindOf, prepareSandboxFiles, sandboxFiles } from './sandbox-files.js';
import { InitSandbox } from '../init-sandbox.js';
import { unmountVolume, volumePaths } from '../disk/volume.js';
import { BackendVolumes } from '../disk/volumes.js';
import type { HostIds } from './launch.js';
import { HostUidAllocator } from '../host-ids.js';
import { closeStaged, stageOwnerMounts, unstageOwnerMounts, type StagedMount } from './owner-mounts.js';
import { consumeLayerSeed } from '../snapshot/layer.js';
import { imageMounts, mountImageRoot, ROOT_CAPS, rootIdsFor, unmountImageRoot, type MountedImageRoot } from './image-root.js';

/** The fd bwrap reads the seccomp filter from (the first fd after stdin/stdout/stderr). */
const SECCOMP_FD = 3;

export class NamespaceBackend implements IsolationBackend {
  readonly name = 'namespace';
  readonly isolation = 'kernel' as const;
  private readonly options: NamespaceOptions;
  private readonly cgroups: CgroupDriver;
  private readonly seccompPath: string;
  private facts: Promise<HostFacts> | undefined;
  /** Hands each sandbox its own host uid (root daemon), made with the first host facts. */
  private uids: HostUidAllocator | undefined;
  /** Folders holding sandbox folders already found reachable by the sandboxes' host uid (ancestors rarely change). */
  private readonly searchable = new Set<string>();
  /** Per-sandbox disk volumes, with spares made ahead (a daemon's backend only: opened by prepareHome). */
  private readonly volumes: BackendVolumes;

  constructor(
    private readonly initPath: string,
    private readonly logger: Logger,
    options: Record<string, unknown> = {},
    /** Remembers a successful bwrap test run between processes (the CLI's `run`). */
    private readonly probeCache?: ProbeCache,
  ) {
    this.options = parseNamespaceOptions(options);
    this.cgroups = new CgroupDriver(this.options.cgroup_parent === undefined ? {} : { parent: this.options.cgroup_parent });
    this.seccompPath = this.options.seccomp_path ?? nativePaths().seccompBpf;
    this.volumes = new BackendVolumes('namespace', 'volume-spares', logger);
  }

  /** Host facts, gathered once (bwrap's path and version, system dirs, cgroups, uid drop). */
  private hostFacts(): Promise<HostFacts> {
    this.facts ??= gatherHostFacts(this.options, this.cgroups, this.probeCache).catch((err: unknown) => {
      // Not cached: the next call tries again.
      this.facts = undefined;
      throw err;
    });
    return this.facts;
  }

  async probe(): Promise<BackendProbe> {
    const [facts, disk] = await Promise.all([this.hostFacts(), this.volumes.tools()]);
    const probe = await probeNamespace({ facts, initPath: this.initPath, seccompPath: this.seccompPath, ...(this.probeCache === undefined ? {} : { cache: this.probeCache }) });
    probe.features.images = await imagesFeature(facts.uidRange !== undefined);
    probe.features.rootInside = probe.features.images.ok
      ? { ok: true, detail: 'with an image: uid 0 inside is a second unprivileged host uid (user namespace), capabilities of that namespace only, seccomp as for every sandbox' }
      : { ok: false, detail: `needs images: ${probe.features.images.detail ?? 'unavailable'}` };
    probe.features.diskLimit = disk.tools !== undefined
      ? { ok: true, detail: 'per-sandbox ext4 image, loop-mounted nosuid,nodev; workspace, home and tmp inside it' }
      : { ok: false, detail: disk.problem ?? 'unavailable' };
    return probe;
  }

  /**
   * For a daemon that starts after a crash: the crashed daemon's sandboxes died with it
   * (die-with-parent, and their init's stdin closed), but their cgroups stay behind. Kills
   * whatever is left in, and removes, every sandbox cgroup whose id is not in `keepIds`.
   */
  cleanupOrphans(keepIds: Iterable<string>, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    return this.cgroups.cleanupOrphans(keepIds, opts);
  }

  /**
   * What a crashed daemon left of this home's sandboxes: their cgroups under this backend's
   * parent (processes killed), the image overlays and disk volumes of the sandboxes that were
   * running (mounted only while a sandbox runs), and the staging mounts of a start cut short.
   */
  async recover(ctx: RecoverContext): Promise<RecoverReport> {
    const warn = (what: string, id?: string) => (err: unknown) => ctx.logger.warn({ ...(id === undefined ? {} : { sandbox: id }), err: (err as Error).message }, what);
    const cgroups = await removeLeftoverCgroups(this.cgroups, ctx.ours, warn('could not clean up a leftover sandbox cgroup'));
    const other: string[] = [];
    for (const { id, dirs } of ctx.stopped) {
      // The image overlay first: it may hold the volume busy.
      await unmountImageRoot(dirs).catch(warn('could not unmount the image root of a stopped sandbox', id));
      await unmountVolume(volumePaths(dirs.root).mountPoint).catch(warn('could not unmount the volume of a stopped sandbox', id));
    }
    // A start cut short (the daemon killed between staging an owner-preserving bind mount and detaching it) leaves a staging mount.
    for (const { id, dirs } of ctx.folders) {
      await unstageOwnerMounts(dirs.root).catch(warn('could not detach the staging mounts of a sandbox', id));
    }
    return { cgroups, other };
  }

  /**
   * The host ids sandbox `spec` runs as under a root daemon: its lease in `<home>/host-uids`,
   * else a free uid of the range. A sandbox made by an older version (one shared uid) keeps
   * the uid owning its workspace when that one is still free.
   */
  private async hostIdsFor(spec: SandboxSpec, facts: HostFacts): Promise<HostIds | undefined> {
    if (facts.uidRange === undefined) return undefined;
    this.uids ??= new HostUidAllocator(facts.uidRange);
    const legacy = lstatSync(spec.dirs.workspace, { throwIfNoEntry: false });
    const preferred = legacy !== undefined && legacy.isDirectory() && legacy.uid !== 0 ? legacy.uid : undefined;
    return this.uids.acquire(spec.dirs.root, spec.id, preferred);
  }

  /**
   * A root daemon's sandboxes run as other uids, and bwrap opens their folders by path: every
   * folder above `<home>/sandboxes` must be searchable by them. Checked once at start: the home
   * and the sandboxes folder are the daemon's and are made searchable (0711 at least); a home
   * made inside a folder others cannot search (e.g. one made by mktemp -d) is refused here,
   * naming that folder.
   */
  async prepareHome(sandboxesDir: string): Promise<void> {
    const [facts] = await Promise.all([this.hostFacts(), this.volumes.openSpares(sandboxesDir)]);
    if (facts.uidRange === undefined) return;
    // The home is the daemon's own: it is made searchable (never readable) by others here;
    // a folder above it is the operator's, and one others cannot search is refused.
    const home = dirname(sandboxesDir);
    const st = await stat(home);
    if ((st.mode & 0o001) === 0) await chmod(home, (st.mode & 0o7777) | 0o011);
    await mkdir(sandboxesDir, { recursive: true, mode: 0o711 });
    await ensureSearchable(join(sandboxesDir, 'probe'), facts.uidRange.start);
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
    if (facts.bwrapPath === undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `backend 'namespace' is unavailable: ${facts.bwrapProblem}`);
    if (facts.dropProblem !== undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `backend 'namespace' is unavailable: ${facts.dropProblem}`);
    const rules = opts.hostPaths ?? NO_HOST_PATHS;
    // The config's deny paths apply to every sandbox, with the spec's own.
    const spec = withConfigDenyPaths(requested, rules);
    const wanted = wantedHostMounts(spec, rules.config);
    const files = sandboxFiles(spec.dirs);
    // Validate everything that can be validated before touching the host (host paths are checked and pinned below).
    const unpinned = wanted.map((w) => ({ source: w.given, fd: -1, target: w.target, readonly: w.readonly, what: w.what }));
    bwrapArgs({ spec, mounts: baseMounts({ spec, system: facts.system, initPath: this.initPath, ...files, hostMounts: unpinned }) });
    const wantsCgroupLimits = cgroupLimits(spec.limits).length > 0;
    const cgroupUsable = facts.cgroup !== undefined && Object.values(facts.cgroup.controllers).some((c) => c.ok);
    // The launcher's move into the sandbox's cgroup waits for an RCU grace period: started now, in the background (cgroup/driver.ts).
    if (cgroupUsable) void this.cgroups.primeAttach();
    if (!cgroupUsable && (wantsCgroupLimits || this.options.require_cgroup === true)) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `backend 'namespace' cannot enforce limits here: no usable cgroup (${facts.cgroupProblem ?? 'see agentd doctor'})`, {
        details: { limits: cgroupLimits(spec.limits).map((l) => l.field) },
      });
    }

    // The sandbox's own host uid (root daemon): its lease, or a new one (kept while its files exist).
    const ids = await this.hostIdsFor(spec, facts);
    // Folders and cgroup are independent: prepare both at once, undo the cgroup if either fails.
    const [dirs, made] = await Promise.allSettled([
      this.volumes.prepare(spec, opts.signal).then(() => prepareSandboxFiles(spec.dirs, ids, this.searchable)),
      cgroupUsable ? this.cgroups.create(spec.id, spec.limits) : Promise.resolve(undefined),
    ]);
    const cgroup = made.status === 'fulfilled' ? made.value : undefined;
    let pinned: PinnedHostPath[] = [];
    let staged: StagedMount[] = [];
    let imageRoot: MountedImageRoot | undefined;
    try {
      if (dirs.status === 'rejected') throw dirs.reason;
      if (made.status === 'rejected') throw made.reason;
      pinned = await pinHostPaths(wanted, rules);
      // Root daemon: bind mounts keep their owner (idmapped onto the sandbox's uid); bwrap binds the staged mount's descriptor instead.
      const toStage = ids === undefined ? [] : wanted.flatMap((w, i) => (w.mapOwner && pinned[i] !== undefined ? [i] : []));
      staged = ids === undefined ? [] : await stageOwnerMounts(spec.dirs.root, toStage.map((i) => ({ pinned: pinned[i] as PinnedHostPath, readonly: wanted[i]?.readonly ?? true })), ids);
      const mountFds = pinned.map((p) => p.handle.fd);
      toStage.forEach((i, k) => {
        const s = staged[k];
        if (s !== undefined) mountFds[i] = s.handle.fd;
      });
      const hostMounts = wanted.map((w, i) => ({ source: pinned[i]?.real ?? w.given, fd: hostMountFd(i), target: w.target, readonly: w.readonly, what: w.what }));
      let mounts;
      if (spec.image !== undefined) {
        // An image: the sandbox's own user namespace (uid 0 and 1000) and overlay root (image-root.ts).
        if (ids === undefined || this.uids === undefined) throw new AgentdError('BACKEND_UNAVAILABLE', "backend 'namespace' runs a sandbox with an image only under a root daemon (it maps two host uids and mounts the image)", { details: { image: spec.image.name } });
        const rootIds = await rootIdsFor(this.uids, spec);
        // A fork's first start: the layer it was forked with, given to its own two uids.
        await consumeLayerSeed(spec.dirs, ids, rootIds);
        imageRoot = await mountImageRoot(spec.dirs, spec.image.rootfs, ids, rootIds);
        mounts = await imageMounts({ spec, merged: imageRoot.merged, imageRootfs: spec.image.rootfs, initPath: this.initPath, hostMounts, maskFile: files.maskFile });
      } else {
        const base = baseMounts({ spec, system: facts.system, initPath: this.initPath, ...files, hostMounts });
        const kinds = await Promise.all(spec.denyPaths.map((p) => kindOf(hostPathOf(base, p), ids, spec.dirs)));
        const denyKinds: Record<string, PathKind> = Object.fromEntries(spec.denyPaths.map((p, i) => [p, kinds[i] ?? 'missing']));
        const plan = planMounts({ spec, system: facts.system, initPath: this.initPath, ...files, hostMounts, denyKinds });
        if (plan.unmaskable.length > 0) {
          this.logger.warn({ sandbox: spec.id, paths: plan.unmaskable }, 'deny paths that do not exist under a read-only mount are not masked (the sandbox cannot create them)');
        }
        mounts = plan.mounts;
      }
      const argv = launchArgv({
        initPath: this.initPath,
        bwrapPath: facts.bwrapPath,
        bwrapArgs: bwrapArgs({ spec, mounts, seccompFd: SECCOMP_FD, ...(imageRoot === undefined ? {} : { image: { usernsFd: hostMountFd(wanted.length), rootCaps: ROOT_CAPS } }), ...(this.options.shepherd_subreaper === false ? { noShepherdSubreaper: true } : {}) }),
        cgroupProcs: cgroup?.procsFiles ?? [],
        limits: spec.limits,
        ...(ids === undefined ? {} : { dropTo: ids }),
        ...(facts.dropWith === undefined ? {} : { dropWith: facts.dropWith }),
      });
      // A sandbox that writes as a folder's owner must not leave setuid/setgid files of that owner (maybe root) on the host.
      const filterPath = staged.length > 0 ? nativePaths().seccompOwnerBpf : this.seccompPath;
      const filter = await open(filterPath, 'r').catch((err: Error) => {
        throw new AgentdError('BACKEND_UNAVAILABLE', `seccomp filter ${filterPath} cannot be read (${err.message}); build it with 'npm run build:native'`, { cause: err });
      });
      let started;
      try {
        started = await spawnInit(argv, {
          cwd: '/',
          env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
          extraFds: [filter.fd, ...mountFds, ...(imageRoot === undefined ? [] : [imageRoot.userns.fd])],
          logger: this.logger,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } finally {
        await filter.close();
      }
      return new InitSandbox({
        backend: this.name, spec, baseEnv: sandboxEnv(spec), channel: started.channel, launcher: started.child, group: cgroup, logger: this.logger,
        // An image's overlay is mounted only while its sandbox runs (the layer keeps the files).
        ...(spec.image === undefined ? {} : { teardown: () => unmountImageRoot(spec.dirs) }),
      });
    } catch (err) {
      await cgroup?.remove().catch(() => undefined);
      if (imageRoot !== undefined) await unmountImageRoot(spec.dirs).catch(() => undefined);
      throw (pinned.length > 0 ? hostPathRaceError(err, spec, rules, wanted) : undefined) ?? err;
    } finally {
      // bwrap holds its own copies until it has mounted them (and its own reference to the user namespace).
      await closeHostPaths(pinned);
      // The sandbox is up (or failed): its mount namespace keeps its own copies of the staged mounts.
      if (staged.length > 0) {
        await closeStaged(staged);
        await unstageOwnerMounts(spec.dirs.root).catch((err: unknown) => this.logger.warn({ sandbox: spec.id, err: (err as Error).message }, 'could not detach the staging mounts of a sandbox'));
      }
      await imageRoot?.release();
    }
  }
}

/** Whether sandboxes here can run on an image (docs/images.md): a root daemon and the idmap helper. */
async function imagesFeature(rootDaemon: boolean): Promise<{ ok: boolean; detail: string }> {
  if (!rootDaemon) return { ok: false, detail: 'needs a root daemon (two mapped uids per sandbox, overlay and idmapped mounts)' };
  const helper = nativePaths().idmap;
  const ok = await access(helper, fsConstants.X_OK).then(() => true, () => false);
  return ok
    ? { ok: true, detail: 'overlay over an idmapped read-only image, per-sandbox layer; root inside = a second unprivileged host uid' }
    : { ok: false, detail: `${helper} is missing (npm run build:native)` };
}

/** bwrap inherits the pinned host-path descriptors after the seccomp filter: fds 4, 5, ... (the i-th wanted host mount). */
function hostMountFd(i: number): number {
  return SECCOMP_FD + 1 + i;
}

/**
 * bwrap refuses a pinned host path that moved after it was checked: its own inode check
 * ("Race condition binding dirfd"), or the descriptor's path gone when it resolves it (named
 * either by the host path or, for `--bind-fd`, by `/proc/self/fd/<fd>` of a pinned descriptor:
 * "Can't find source path /proc/self/fd/4"). That is the race the pinning defends against, so
 * it is reported as such (POLICY_DENIED, rule "changed"), not as a dead sandbox. Other bwrap
 * failures (the sandbox's own folders, any other descriptor) are left alone.
 */
export function hostPathRaceError(err: unknown, spec: SandboxSpec, rules: HostPathRules, wanted: ReadonlyArray<{ given: string; what: string }>): AgentdError | undefined {
  const tail = err instanceof AgentdError ? err.details.stderrTail : undefined;
  if (typeof tail !== 'string') return undefined;
  // bwrap: "Can't find source path %s: %s", "Can't get type of source %s: %s", "Can't bind mount /oldroot%s on /newroot%s: %s".
  const source = /Can't (?:get type of source|find source path) (\S+?):? |Can't bind mount \/oldroot(\S+) on/.exec(tail);
  const path = source?.[1] ?? source?.[2];
  const pinnedFds = new Set(wanted.map((_, i) => `/proc/self/fd/${hostMountFd(i)}`));
  const onHostPath = path !== undefined && (pinnedFds.has(path) || (!path.startsWith(`${spec.dirs.root}/`) && rules.roots.some((r) => path === r || path.startsWith(`${r}/`))));
  if (!tail.includes('Race condition binding dirfd') && !onHostPath) return undefined;
  return new AgentdError('POLICY_DENIED', `a host path changed between its check and its mount (bwrap: ${tail.trim().split('\n').pop() ?? ''}); nothing was mounted, try again`, {
    details: { rule: 'changed', fields: wanted.map((w) => w.what), paths: wanted.map((w) => w.given) },
    cause: err,
  });
}

/** The spec with the config's deny paths added (each once). */
function withConfigDenyPaths(spec: SandboxSpec, rules: HostPathRules): SandboxSpec {
  if (rules.config.denyPaths.length === 0) return spec;
  return { ...spec, denyPaths: [...new Set([...rules.config.denyPaths, ...spec.denyPaths])] };
}

/** Checks and pins every wanted host path (isolation/host-paths.ts); all or none (the others are closed on a refusal). */
async function pinHostPaths(wanted: ReturnType<typeof wantedHostMounts>, rules: HostPathRules): Promise<PinnedHostPath[]> {
  const settled = await Promise.allSettled(wanted.map((w) => openHostPath(w.given, rulesForMount(rules, w.local === true), w.what)));
  const ok = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await closeHostPaths(ok);
    throw failed.reason;
  }
  return ok;
}

export function createNamespaceBackend(ctx: BackendFactoryContext): IsolationBackend {
  return new NamespaceBackend(ctx.initPath, ctx.logger, ctx.options, ctx.probeCache);
}
