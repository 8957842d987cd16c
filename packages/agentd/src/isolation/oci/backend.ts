/**
 * The `oci` backend (runc or crun) and, with another flavour, `gvisor` (runsc): an OCI bundle
 * generated from the SandboxSpec (bundle.ts), agentd-init as the container's process, the
 * channel on its stdio (the runtime runs in the foreground, no terminal). Limits are set by
 * agentd's own cgroup driver on the sandbox's group, which the bundle names as its
 * cgroupsPath (the runtime joins it); suspend, usage and kill go through that group as for
 * the namespace backend. See docs/backends.md.
 */
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { spawnInit } from '../../channel/spawn.js';
import { nativePaths } from '../../native-paths.js';
import type { Logger } from '../../util/logger.js';
import { CgroupDriver, cgroupLimits, type CgroupProbe, type SandboxCgroup } from '../cgroup/index.js';
import { DEFAULT_HOST_UID_RANGE, HostUidAllocator, rangeProblem, type HostIds, type HostUidRange } from '../host-ids.js';
import { closeHostPaths, NO_HOST_PATHS, openHostPath, rulesForMount, type HostPathRules, type PinnedHostPath } from '../host-paths.js';
import { InitSandbox } from '../init-sandbox.js';
import { sandboxEnv } from '../namespace/bwrap-args.js';
import { measureSystemEntries } from '../namespace/host-layout.js';
import { imageMounts, mountImageRoot, ROOT_CAPS, rootIdsFor, unmountImageRoot, type MountedImageRoot } from '../namespace/image-root.js';
import { baseMounts, hostPathOf, planMounts, wantedHostMounts, type Mount, type PathKind, type SystemEntry } from '../namespace/mounts.js';
import { unstageOwnerMounts } from '../namespace/owner-mounts.js';
import { ensureSearchable, kindOf, prepareSandboxFiles } from '../namespace/sandbox-files.js';
import { findExecutable } from '../namespace/which.js';
import { consumeLayerSeed } from '../snapshot/layer.js';
import { unmountVolume, volumePaths, type VolumeTools } from '../disk/volume.js';
import { BackendVolumes } from '../disk/volumes.js';
import type { BackendProbe, DestroyOptions, FeatureStatus, IsolationBackend, RecoverContext, RecoverReport, SandboxHandle, SandboxSpec, SandboxUsage, StartOptions } from '../types.js';
import { removeLeftoverCgroups } from '../cgroup/recover.js';
import { removeOciLeftovers } from './recover.js';
import { ociConfig } from './bundle.js';
import { probeRuntime } from './probe.js';
import { crunWorkaround, deleteContainer, hasRecord, runArgv, runtimeRoot, RUNTIME_PATH, type OciRuntime, type RuntimeKind } from './runtime.js';
import { skeletonRoot } from './skeleton.js';
import { stageHostMounts } from './stage.js';

/** What differs between runc/crun and runsc. */
export interface OciFlavour {
  /** Canonical backend name ('oci', 'oci-runc', 'oci-crun', 'gvisor'). */
  name: string;
  /** The runtime, or 'auto' (crun when it works here, else runc). */
  runtime: RuntimeKind | 'auto';
  /** Configured binary paths by runtime. */
  paths: Partial<Record<RuntimeKind, string>>;
  /** runsc: the global flags (platform, network) to try, best first; the first that runs agentd-init wins. */
  runscCandidates?: (runscPath: string) => Promise<Array<{ flags: string[]; detail: string; timeoutMs?: number }>>;
  hostUidRange?: HostUidRange;
  cgroupParent?: string;
}

interface Facts {
  runtime?: OciRuntime;
  runtimeVersion?: string;
  problem?: string;
  /** runsc: which platform, for the probe. */
  platformDetail?: string;
  /** The runtime's kernel refuses PR_SET_CHILD_SUBREAPER below PID 1: agentd-init runs with `--no-shepherd-subreaper`. */
  noShepherdSubreaper?: boolean;
  cgroup?: CgroupProbe;
  cgroupProblem?: string;
  system: SystemEntry[];
  uidRange: HostUidRange;
}

const ok = (detail: string): FeatureStatus => ({ ok: true, detail });
const no = (detail: string): FeatureStatus => ({ ok: false, detail });

export class OciBackend implements IsolationBackend {
  readonly isolation = 'kernel' as const;
  private readonly cgroups: CgroupDriver;
  private facts: Promise<Facts> | undefined;
  private uids: HostUidAllocator | undefined;
  private readonly searchable = new Set<string>();
  /** Runtime state folders (`--root`) made by this backend already. */
  private readonly stateRoots = new Set<string>();
  private probed: Promise<BackendProbe> | undefined;
  /** Per-sandbox disk volumes as the namespace backend keeps them, with spares made ahead (a daemon's backend only: opened by prepareHome). */
  private readonly volumes: BackendVolumes;

  constructor(
    private readonly flavour: OciFlavour,
    private readonly initPath: string,
    private readonly logger: Logger,
  ) {
    this.cgroups = new CgroupDriver(flavour.cgroupParent === undefined ? {} : { parent: flavour.cgroupParent });
    // Spares of their own per backend name: a spare is renamed into a sandbox of this backend.
    this.volumes = new BackendVolumes(flavour.name, `volume-spares-${flavour.name}`, logger);
  }

  get name(): string {
    return this.flavour.name;
  }

  private get gvisor(): boolean {
    return this.flavour.runtime === 'runsc';
  }

  /** Runtime binary, state folder, wrapper and the host's cgroups, found once. */
  private hostFacts(): Promise<Facts> {
    this.facts ??= this.gather().catch((err: unknown) => {
      this.facts = undefined;
      throw err;
    });
    return this.facts;
  }

  private async gather(): Promise<Facts> {
    const uidRange = this.flavour.hostUidRange ?? DEFAULT_HOST_UID_RANGE;
    const [system, cgroup] = await Promise.all([
      measureSystemEntries(),
      this.cgroups.probe().then((probe) => ({ probe }), (err: unknown) => ({ problem: (err as Error).message })),
    ]);
    const facts: Facts = { system, uidRange: { start: uidRange.start, count: uidRange.count - 1 } };
    if ('probe' in cgroup) facts.cgroup = cgroup.probe;
    else facts.cgroupProblem = cgroup.problem;
    if (process.getuid?.() !== 0) {
      facts.problem = `backend '${this.name}' needs a root daemon (each sandbox's user namespace maps two host uids of its own)`;
      return facts;
    }
    const rangeIssue = await rangeProblem(uidRange);
    if (rangeIssue !== undefined) {
      facts.problem = rangeIssue;
      return facts;
    }
    const candidates: RuntimeKind[] = this.flavour.runtime === 'auto' ? ['crun', 'runc'] : [this.flavour.runtime];
    const problems: string[] = [];
    for (const kind of candidates) {
      const path = await findExecutable(this.flavour.paths[kind] ?? kind, RUNTIME_PATH);
      if (path === undefined) {
        problems.push(this.flavour.paths[kind] === undefined ? `${kind} not found in PATH (install the '${kind === 'runsc' ? 'runsc' : kind}' package)` : `${kind}_path ${this.flavour.paths[kind] ?? ''} is not an executable`);
        continue;
      }
      const wrap = kind === 'crun' ? await crunWorkaround() : [];
      // runsc: each platform the build and the host may offer, best first; runc and crun: one try.
      const tries: Array<{ flags: string[]; detail: string; timeoutMs?: number }> = kind === 'runsc' ? await (this.flavour.runscCandidates?.(path) ?? Promise.resolve([])) : [{ flags: [], detail: '' }];
      if (tries.length === 0) problems.push(`${kind}: no platform to try`);
      for (let t of tries) {
        const runtime: OciRuntime = { kind, path, root: '', flags: t.flags, wrap };
        // A real run of agentd-init (--version) under the runtime, with the sandbox's filter: the runtime works here.
        const probeUid = uidRange.start + uidRange.count - 1;
        const input = { initPath: this.initPath, seccompPath: nativePaths().seccompBpf, probeIds: { uid: probeUid, gid: probeUid }, userns: kind !== 'runsc', cgroupParent: this.cgroups.parent, ...(t.timeoutMs === undefined ? {} : { timeoutMs: t.timeoutMs }) };
        let tried = await probeRuntime(runtime, input);
        // gVisor's kernel may allow a child subreaper at PID 1 only: the init (PID 1 there)
        // then reaps the commands' orphans itself (agentd-init --no-shepherd-subreaper).
        // Only where the runtime really refuses it: elsewhere the prctl failing stays an error.
        if (kind === 'runsc' && tried.subreaperRefused === true) {
          tried = await probeRuntime(runtime, { ...input, initFlags: ['--no-shepherd-subreaper'] });
          if (tried.problem === undefined) {
            facts.noShepherdSubreaper = true;
            t = { ...t, detail: `${t.detail}; agentd-init --no-shepherd-subreaper (this gVisor refuses PR_SET_CHILD_SUBREAPER below PID 1: the init, PID 1, reaps the commands' orphans)` };
          }
        }
        if (tried.problem !== undefined) {
          problems.push(`${kind}${t.detail === '' ? '' : ` (${t.detail})`}: ${tried.problem}`);
          continue;
        }
        facts.runtime = runtime;
        facts.runtimeVersion = tried.version;
        if (t.detail !== '') facts.platformDetail = t.detail + (problems.length > 0 ? `; not: ${problems.join('; ')}` : '');
        return facts;
      }
    }
    facts.problem = problems.join('; ');
    return facts;
  }

  async probe(): Promise<BackendProbe> {
    this.probed ??= this.doProbe().finally(() => {
      this.probed = undefined;
    });
    return this.probed;
  }

  private async doProbe(): Promise<BackendProbe> {
    const [facts, disk] = await Promise.all([this.hostFacts(), this.gvisor ? Promise.resolve({}) : this.volumes.tools()]) as [Facts, { tools?: VolumeTools; problem?: string }];
    const idmap = await access(nativePaths().idmap, fsConstants.X_OK).then(() => true, () => false);
    const cg = facts.cgroup;
    const control = (c: 'memory' | 'pids' | 'cpu' | 'freezer'): FeatureStatus =>
      cg === undefined ? no(facts.cgroupProblem ?? 'no cgroup') : cg.controllers[c].ok ? ok(`agentd's cgroup driver (${cg.controllers[c].detail ?? c}); the runtime joins the group (cgroupsPath)`) : no(cg.controllers[c].detail ?? 'unavailable');
    const available = facts.runtime !== undefined;
    const reason = facts.problem ?? 'unavailable';
    const rt = facts.runtime;
    const runtimeDetail = rt === undefined ? reason : `${rt.kind} ${facts.runtimeVersion ?? ''}`.trim() + (rt.wrap.length > 0 ? ' (in a private mount namespace without /sys/fs/cgroup/unified: crun refuses hybrid cgroups)' : '');
    const off = (d: string): FeatureStatus => (available ? no(d) : no(reason));
    const on = (d: string): FeatureStatus => (available ? ok(d) : no(reason));
    const features: BackendProbe['features'] = this.gvisor
      ? {
        filesystem: on("gVisor's own kernel (the Sentry) serves the sandbox's files through its gofer: workspace, home and tmp read-write, the host's system folders (or the image's overlay) read-only; /proc is gVisor's own (no host /proc/sys, no NoNewPrivs line in /proc/PID/status)"),
        network: on("network 'none' only (runsc --network=none: loopback in gVisor's netstack); 'allowlist' and 'host' are refused"),
        pidNamespace: on("gVisor's own kernel: the sandbox sees only its own processes"),
        seccomp: on("agentd's filter (the namespace backend's BPF) installed by agentd-init inside gVisor, enforced by gVisor's kernel; the Sentry itself runs under gVisor's own host seccomp filter"),
        memoryLimit: off("not enforced per command: the host cgroup can cap only the whole Sentry, and past it the host's OOM killer ends the whole sandbox, not the command (this gVisor has no OOM killer of its own)"),
        pidsLimit: off("not enforced: the host cgroup's pids.max would count the Sentry's threads, not the sandbox's processes"),
        cpuLimit: available ? control('cpu') : no(reason),
        suspend: available ? control('freezer') : no(reason),
        runtime: on(runtimeDetail),
        platform: available ? ok(facts.platformDetail ?? '') : no(reason),
        userNamespace: off("no user namespace inside: gVisor's kernel keeps its own ids (without an image the sandbox runs as its host uid; with one, runsc runs its Sentry and gofer in the bundle's user namespace on the host)"),
        hostUid: on(`each sandbox runs as its own unprivileged host uid (leased from ${facts.uidRange.start}..${facts.uidRange.start + facts.uidRange.count - 1})`),
        rlimits: on('open files and core size, in the bundle (process.rlimits), enforced by gVisor\'s kernel'),
        images: available && !idmap ? no(`${nativePaths().idmap} is missing (npm run build:native)`) : on("overlay over an idmapped read-only image, per-sandbox layer, served by gVisor's gofer"),
        rootInside: available && !idmap ? no(`${nativePaths().idmap} is missing (npm run build:native)`) : on(`with an image: root of gVisor's kernel with ${ROOT_CAPS.length} capabilities, no_new_privs; runsc runs its Sentry and gofer in the bundle's user namespace, so what root inside writes belongs to the sandbox's second unprivileged host uid`),
        diskLimit: off('not offered by the gvisor backend'),
      }
      : {
        filesystem: on('mount namespace: workspace, home and tmp read-write, the host\'s system folders (or the image\'s overlay) read-only, host paths from pinned staging mounts'),
        network: on("own network namespace (only lo) for 'none' and 'allowlist' (the init's relay to the daemon's egress proxy); 'host' where the profile allows"),
        pidNamespace: on('own pid, ipc, uts and cgroup namespaces'),
        seccomp: on("agentd's filter (the same BPF the namespace backend hands bwrap) installed by agentd-init (--seccomp-file) before anything runs; the runtime adds none"),
        memoryLimit: available ? control('memory') : no(reason),
        pidsLimit: available ? control('pids') : no(reason),
        cpuLimit: available ? control('cpu') : no(reason),
        suspend: available ? control('freezer') : no(reason),
        runtime: on(runtimeDetail),
        userNamespace: on('uid 1000 (agent) and uid 0 (root inside) mapped to two unprivileged host uids of the sandbox\'s own'),
        hostUid: on(`each sandbox runs as its own unprivileged host uid (leased from ${facts.uidRange.start}..${facts.uidRange.start + facts.uidRange.count - 1}), root inside as a second one`),
        rlimits: on('open files and core size, in the bundle (process.rlimits)'),
        images: available && !idmap ? no(`${nativePaths().idmap} is missing (npm run build:native)`) : on('overlay over an idmapped read-only image, per-sandbox layer'),
        rootInside: available && !idmap ? no(`${nativePaths().idmap} is missing (npm run build:native)`) : on(`with an image: uid 0 inside = the sandbox's second host uid, capabilities ${ROOT_CAPS.length} of Docker's default set, no_new_privs`),
        diskLimit: available ? (disk.tools !== undefined ? ok('per-sandbox ext4 image, loop-mounted nosuid,nodev (the namespace backend\'s volumes); workspace, home, tmp and the image layer inside it') : no(disk.problem ?? 'unavailable')) : no(reason),
      };
    return { backend: this.name, available, ...(available ? {} : { reason }), isolation: 'kernel', features };
  }

  /** The sandboxes' host uids must reach `<home>/sandboxes` (as for the namespace backend). Leftover containers: recover.ts, at every daemon start. */
  async prepareHome(sandboxesDir: string): Promise<void> {
    const facts = await this.hostFacts();
    if (facts.runtime === undefined) return;
    // gvisor offers no disk limit: no spares.
    if (!this.gvisor) await this.volumes.openSpares(sandboxesDir);
    await mkdir(sandboxesDir, { recursive: true, mode: 0o711 });
    await ensureSearchable(join(sandboxesDir, 'probe'), facts.uidRange.start);
  }

  /**
   * What a crashed daemon left (isolation/types.ts recover): the containers in this home's
   * runtime state folders (`<home>/oci/<runtime>`, every runtime at once: they are this home's
   * alone; oci/recover.ts), the cgroups of this home's sandboxes under this backend's parent,
   * and the volumes of the sandboxes that were running. Each step logs and goes on.
   */
  async recover(ctx: RecoverContext): Promise<RecoverReport> {
    const warn = (what: string, id?: string) => (err: unknown) => ctx.logger.warn({ ...(id === undefined ? {} : { sandbox: id }), err: (err as Error).message }, what);
    const containers = await removeOciLeftovers(ctx.home, ctx.logger);
    const cgroups = await removeLeftoverCgroups(this.cgroups, ctx.ours, warn('could not clean up a leftover sandbox cgroup'));
    for (const { id, dirs } of ctx.stopped) {
      await unmountImageRoot(dirs).catch(warn('could not unmount the image root of a stopped sandbox', id));
      await unmountVolume(volumePaths(dirs.root).mountPoint).catch(warn('could not unmount the volume of a stopped sandbox', id));
    }
    return { cgroups, other: Object.entries(containers).flatMap(([runtime, ids]) => ids.map((id) => `${runtime} container ${id}`)) };
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
    if (facts.runtime === undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `backend '${this.name}' is unavailable: ${facts.problem ?? 'no runtime'}`);
    const rt: OciRuntime = { ...facts.runtime, root: runtimeRoot(requested.dirs.root, facts.runtime.kind) };
    this.refuseUnsupported(requested);
    const rules = opts.hostPaths ?? NO_HOST_PATHS;
    const spec = rules.config.denyPaths.length === 0 ? requested : { ...requested, denyPaths: [...new Set([...rules.config.denyPaths, ...requested.denyPaths])] };
    const wanted = wantedHostMounts(spec, rules.config);
    const cgroupUsable = facts.cgroup !== undefined && Object.values(facts.cgroup.controllers).some((c) => c.ok);
    if (!cgroupUsable && cgroupLimits(spec.limits).length > 0) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `backend '${this.name}' cannot enforce limits here: no usable cgroup (${facts.cgroupProblem ?? 'see agentd doctor'})`, { details: { limits: cgroupLimits(spec.limits).map((l) => l.field) } });
    }
    const uids = (this.uids ??= new HostUidAllocator(facts.uidRange));
    // The cgroup needs nothing the file steps make: made meanwhile (removed below if any step fails).
    const cgroupMade = cgroupUsable ? this.cgroups.create(spec.id, spec.limits) : Promise.resolve(undefined);
    cgroupMade.catch(() => undefined);
    let cgroup: SandboxCgroup | undefined;
    let pinned: PinnedHostPath[] = [];
    let imageRoot: MountedImageRoot | undefined;
    let staged = false;
    let launched = false;
    try {
      // The uid lease and the volume at once: the lease makes the root folder (empty) if it does not exist, a spare
      // volume is renamed onto it (an empty folder or none); neither writes into it.
      const [leased, volume] = await Promise.allSettled([uids.acquire(spec.dirs.root, spec.id), this.volumes.prepare(spec, opts.signal)]);
      if (leased.status === 'rejected') throw leased.reason;
      if (volume.status === 'rejected') throw volume.reason;
      const agent = leased.value;
      // gvisor without an image: no host user namespace, the init runs as the sandbox's host
      // uid inside gVisor. With an image: the runc bundle's user namespace, which runsc applies
      // to its Sentry and gofer on the host, so root inside writes as the second host uid.
      // The sandbox's files, its second uid and the pinned host paths are independent of each other.
      const [filesDone, rootDone, pinDone] = await Promise.allSettled([
        prepareSandboxFiles(spec.dirs, agent, this.searchable),
        this.gvisor && spec.image === undefined ? Promise.resolve(undefined) : rootIdsFor(uids, spec),
        pinHostPaths(wanted, rules),
      ]);
      if (pinDone.status === 'fulfilled') pinned = pinDone.value;
      for (const r of [filesDone, rootDone, pinDone]) if (r.status === 'rejected') throw r.reason;
      const files = (filesDone as PromiseFulfilledResult<Awaited<ReturnType<typeof prepareSandboxFiles>>>).value;
      const root = (rootDone as PromiseFulfilledResult<HostIds | undefined>).value;
      cgroup = await cgroupMade;
      const stagedPaths = await stageHostMounts(spec.dirs.root, pinned.map((p, i) => ({ pinned: p, readonly: wanted[i]?.readonly ?? true, ...(wanted[i]?.mapOwner === true ? { mapTo: agent } : {}) })));
      staged = stagedPaths.length > 0;
      // The plan's `fd` of host mount i is i; the bundle binds its staging point.
      const hostMounts = wanted.map((w, i) => ({ source: pinned[i]?.real ?? w.given, fd: i, target: w.target, readonly: w.readonly, what: w.what }));
      let mounts: Mount[];
      let rootfs: { path: string; readonly: boolean };
      if (spec.image !== undefined) {
        if (root === undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `backend '${this.name}' does not run images`);
        await consumeLayerSeed(spec.dirs, agent, root);
        imageRoot = await mountImageRoot(spec.dirs, spec.image.rootfs, agent, root);
        mounts = await imageMounts({ spec, merged: imageRoot.merged, imageRootfs: spec.image.rootfs, initPath: this.initPath, hostMounts, maskFile: files.maskFile });
        rootfs = { path: imageRoot.merged, readonly: false };
      } else {
        const base = baseMounts({ spec, system: facts.system, initPath: this.initPath, ...files, hostMounts });
        const kinds = await Promise.all(spec.denyPaths.map((p) => kindOf(hostPathOf(base, p), agent, spec.dirs)));
        const denyKinds: Record<string, PathKind> = Object.fromEntries(spec.denyPaths.map((p, i) => [p, kinds[i] ?? 'missing']));
        const plan = planMounts({ spec, system: facts.system, initPath: this.initPath, ...files, hostMounts, denyKinds });
        if (plan.unmaskable.length > 0) this.logger.warn({ sandbox: spec.id, paths: plan.unmaskable }, 'deny paths that do not exist under a read-only mount are not masked (the sandbox cannot create them)');
        mounts = plan.mounts;
        // Set below: the shared skeleton root of this mount plan (skeleton.ts).
        rootfs = { path: '', readonly: true };
      }
      const gv = this.gvisor;
      const config = ociConfig({
        spec,
        mounts,
        stagedSource: (fd) => {
          const p = stagedPaths[fd];
          if (p === undefined) throw new AgentdError('INTERNAL', `host mount ${fd} was not staged`);
          return p;
        },
        seccompFile: nativePaths().seccompBpf,
        rootfs,
        ...(root === undefined ? {} : { userns: { agent, root } }),
        user: spec.image !== undefined ? { uid: 0, gid: 0 } : gv ? { uid: agent.uid, gid: agent.gid } : { uid: 1000, gid: 1000 },
        caps: spec.image !== undefined ? ROOT_CAPS : [],
        ...(spec.image !== undefined ? { fsUid: 1000 } : {}),
        ...(facts.noShepherdSubreaper === true ? { noShepherdSubreaper: true } : {}),
        ...(cgroup === undefined ? {} : { cgroupsPath: `/${this.cgroups.parent}/${spec.id}` }),
        env: sandboxEnv(spec),
      });
      const bundle = join(spec.dirs.root, '.oci');
      // The skeleton, the bundle's folder and the runtime's state folder are independent: made at once.
      const [skeleton] = await Promise.all([
        spec.image === undefined ? skeletonRoot(homeOf(spec.dirs.root), config, mounts) : Promise.resolve(undefined),
        rm(bundle, { recursive: true, force: true }).then(() => mkdir(bundle, { mode: 0o700 })),
        this.runtimeRootReady(rt, spec.id),
      ]);
      if (skeleton !== undefined) config.root = { path: skeleton, readonly: true };
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config), { mode: 0o600 });
      launched = true;
      const started = await spawnInit(runArgv(rt, bundle, spec.id), {
        cwd: '/',
        env: { PATH: RUNTIME_PATH },
        logger: this.logger,
        readyTimeoutMs: gv ? 30_000 : 10_000,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      const inner = new InitSandbox({
        backend: this.name, spec, baseEnv: sandboxEnv(spec), channel: started.channel, launcher: started.child, group: cgroup, logger: this.logger,
        // An image's overlay is mounted only while its sandbox runs (the layer keeps the files).
        ...(spec.image === undefined ? {} : { teardown: () => unmountImageRoot(spec.dirs) }),
      });
      return new OciSandbox(inner, rt, this.logger);
    } catch (err) {
      await (cgroup ?? (await cgroupMade.catch(() => undefined)))?.remove().catch(() => undefined);
      if (launched) await deleteContainer(rt, spec.id).catch(() => undefined);
      if (imageRoot !== undefined) await unmountImageRoot(spec.dirs).catch(() => undefined);
      throw err;
    } finally {
      await closeHostPaths(pinned);
      // The container keeps its own copies (private propagation): nothing stays mounted on the host.
      if (staged) await unstageOwnerMounts(spec.dirs.root).catch((err: unknown) => this.logger.warn({ sandbox: spec.id, err: (err as Error).message }, 'could not detach the staging mounts of a sandbox'));
      await imageRoot?.release();
    }
  }

  /**
   * The runtime's state folder exists (made once per daemon) and holds no container of this
   * sandbox's id: one left by a crash of this very sandbox (the daemon's recovery normally
   * removed it) is deleted, only when the runtime has a record of that name (a runtime
   * process costs several ms per start otherwise).
   */
  private async runtimeRootReady(rt: OciRuntime, id: string): Promise<void> {
    if (!this.stateRoots.has(rt.root)) {
      await mkdir(rt.root, { recursive: true, mode: 0o700 });
      this.stateRoots.add(rt.root);
    }
    if (await hasRecord(rt, id)) await deleteContainer(rt, id).catch(() => undefined);
  }

  /** What this backend cannot do is refused, never ignored. */
  private refuseUnsupported(spec: SandboxSpec): void {
    if (!this.gvisor) return;
    if (spec.limits.diskBytes !== undefined) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `backend '${this.name}' cannot enforce a disk limit (use oci or namespace)`, { details: { limits: ['diskBytes'] } });
    }
    if (spec.limits.pids !== undefined) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `backend '${this.name}' cannot enforce a process limit: gVisor's processes are threads of its Sentry on the host`, { details: { limits: ['pids'] } });
    }
    if (spec.limits.memoryBytes !== undefined) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `backend '${this.name}' cannot enforce a memory limit per command: the host cgroup caps the whole Sentry, and going past it would end the whole sandbox`, { details: { limits: ['memoryBytes'] } });
    }
    if (spec.network !== 'none') {
      throw new AgentdError('INVALID_ARGUMENT', `backend '${this.name}' offers network 'none' only (runsc --network=none); '${spec.network}' needs another backend`, { details: { network: spec.network } });
    }
  }
}

/** The home of a sandbox root `<home>/sandboxes/<id>`. */
function homeOf(sandboxRoot: string): string {
  return dirname(dirname(sandboxRoot));
}

/** Checks and pins every wanted host path; all or none. */
async function pinHostPaths(wanted: ReturnType<typeof wantedHostMounts>, rules: HostPathRules): Promise<PinnedHostPath[]> {
  const settled = await Promise.allSettled(wanted.map((w) => openHostPath(w.given, rulesForMount(rules, w.local === true), w.what)));
  const done = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await closeHostPaths(done);
    throw failed.reason;
  }
  return done;
}

/**
 * A running OCI sandbox: the InitSandbox (channel, cgroup: suspend, usage, kill) plus the
 * runtime's own record, deleted (`delete --force`) once the init is gone.
 */
export class OciSandbox implements SandboxHandle {
  constructor(
    private readonly inner: InitSandbox,
    private readonly runtime: OciRuntime,
    private readonly logger: Logger,
  ) {}

  get id(): string {
    return this.inner.id;
  }
  get backend(): string {
    return this.inner.backend;
  }
  get channel(): InitSandbox['channel'] {
    return this.inner.channel;
  }
  get spec(): SandboxSpec {
    return this.inner.spec;
  }
  get baseEnv(): Readonly<Record<string, string>> {
    return this.inner.baseEnv;
  }
  get exited(): InitSandbox['exited'] {
    return this.inner.exited;
  }
  get suspended(): boolean {
    return this.inner.suspended;
  }
  isAlive(): boolean {
    return this.inner.isAlive();
  }
  suspend(): Promise<void> {
    return this.inner.suspend();
  }
  resume(): Promise<void> {
    return this.inner.resume();
  }
  usage(): Promise<SandboxUsage> {
    return this.inner.usage();
  }

  async destroy(opts: DestroyOptions = {}): Promise<void> {
    await this.inner.destroy(opts);
    // The foreground runtime deletes its container when the init exits (the usual case): a
    // `delete --force` (a process, several ms) only when its record is still there.
    if (!(await hasRecord(this.runtime, this.id))) return;
    await deleteContainer(this.runtime, this.id).catch((err: unknown) => this.logger.warn({ sandbox: this.id, err: (err as Error).message }, 'could not delete the runtime\'s record of a sandbox'));
  }
}

export type { HostIds };
