import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, lstat, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { AgentdError, toAgentdError } from '../../core/errors.js';
import { InitChannel } from '../../channel/init-channel.js';
import { killExecFromHost } from '../../channel/host-kill.js';
import type { Logger } from '../../util/logger.js';
import { CgroupDriver, type SandboxCgroup } from '../cgroup/index.js';
import { ensureSandboxDirs } from '../dirs.js';
import { NO_HOST_PATHS } from '../host-paths.js';
import { sandboxEnv } from '../namespace/bwrap-args.js';
import { groupText, passwdText } from '../namespace/etc-files.js';
import { ensureSearchable, kindOf } from '../namespace/sandbox-files.js';
import { checkSandboxPath, isUnder, SANDBOX_PATHS } from '../namespace/mounts.js';
import type { BackendFactoryContext, BackendProbe, FeatureStatus, IsolationBackend, RecoverContext, RecoverReport, SandboxHandle, SandboxSpec, StartOptions } from '../types.js';
import { PodmanApi } from './api.js';
import { CGROUP_PARENT, dropSandboxCgroup, dropSandboxCgroups } from './cgroup-dirs.js';
import { seccompProfile } from './seccomp-profile.js';
import { containerSpec, LABEL_HOME, LABEL_SANDBOX, type HostLimits } from './container-spec.js';
import { AttachDemux } from './demux.js';
import { ensureHostRoot } from './host-root.js';
import { DEFAULT_UID_RANGE, parsePodmanOptions, type PodmanOptions } from './options.js';
import { PodmanSandbox, removeContainer } from './sandbox.js';
import { ping, podmanEnv, podmanPaths, PodmanService } from './service.js';
import { AGENT_UID, UidBlocks } from './uids.js';

const DEFAULT_READY_MS = 30_000;
function which(cmd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', `command -v "$1"`, 'sh', cmd], (err, out) => resolve(err ? undefined : out.trim() || undefined));
  });
}

/** The daemon's own RLIMIT_NOFILE and RLIMIT_NPROC (soft, hard), from /proc/self/limits. */
async function hostLimits(): Promise<HostLimits> {
  const text = await readFile('/proc/self/limits', 'utf8');
  const pick = (label: string): { soft: number; hard: number } => {
    const line = text.split('\n').find((l) => l.startsWith(label)) ?? '';
    const [soft, hard] = line.slice(label.length).trim().split(/\s+/);
    const num = (v: string | undefined): number => (v === undefined || v === 'unlimited' ? 0xffffffff : Number(v));
    return { soft: num(soft), hard: num(hard) };
  };
  // podman's service runs the container's runc with lower limits than the daemon's: capped at the figures known to work here (containers.conf).
  const cap = (l: { soft: number; hard: number }, max: number): { soft: number; hard: number } => ({ soft: Math.min(l.soft, max), hard: Math.min(l.hard, max) });
  return { nofile: cap(pick('Max open files'), 20000), nproc: cap(pick('Max processes'), 32768) };
}

/** `<home>` of a sandbox: its folder is `<home>/sandboxes/<id>`. */
function homeOf(spec: SandboxSpec): string {
  return dirname(dirname(spec.dirs.root));
}

/** The container's name: unique per home (an operator's service may serve several). */
export function containerName(home: string, id: string): string {
  const h = createHash('sha256').update(home).digest('hex').slice(0, 8);
  return `agentd-${h}-${id}`.replace(/[^A-Za-z0-9_.-]/g, '-');
}

/** podman's name for an image of agentd's store (one import per digest). */
export function podmanImageName(digest: string): string {
  return `localhost/agentd-image:${digest.replace(/^sha256:/, '').slice(0, 64)}`;
}

export class PodmanBackend implements IsolationBackend {
  readonly name = 'podman';
  readonly isolation = 'kernel' as const;
  private readonly options: PodmanOptions;
  private readonly services = new Map<string, PodmanService>();
  private operatorApi: PodmanApi | undefined;
  private readonly uids: UidBlocks;
  private readonly imports = new Map<string, Promise<string>>();
  private podmanPath: Promise<string | undefined> | undefined;
  private limits: Promise<HostLimits> | undefined;
  private readonly seccompFiles = new Map<string, Promise<string>>();
  /** Folders holding sandbox folders already found searchable by others. */
  private readonly searchable = new Set<string>();
  /** Each sandbox's own cgroup `<hierarchy>/agentd-podman/<id>` (limits, usage, OOM count); its container's cgroup lies inside. */
  private readonly cgroups = new CgroupDriver({ parent: CGROUP_PARENT });

  constructor(
    private readonly initPath: string,
    private readonly logger: Logger,
    options: Record<string, unknown> = {},
  ) {
    this.options = parsePodmanOptions(options);
    this.uids = new UidBlocks(this.options.host_uid_range ?? DEFAULT_UID_RANGE);
    if (this.options.socket !== undefined) this.operatorApi = new PodmanApi(this.options.socket);
  }

  private findPodman(): Promise<string | undefined> {
    this.podmanPath ??= this.options.podman_path !== undefined
      ? access(this.options.podman_path, fsConstants.X_OK).then(() => this.options.podman_path, () => undefined)
      : which('podman');
    return this.podmanPath;
  }

  /** The API for sandboxes of `home`: the operator's socket, or this home's own service. */
  async apiFor(home: string): Promise<PodmanApi> {
    if (this.operatorApi !== undefined) return this.operatorApi;
    let service = this.services.get(home);
    if (service === undefined) {
      const podman = await this.findPodman();
      if (podman === undefined) throw new AgentdError('BACKEND_UNAVAILABLE', "backend 'podman' is unavailable: no podman binary (apt-get install podman, or set isolation.backends.podman.podman_path)");
      service = new PodmanService(podman, podmanPaths(home), this.logger);
      this.services.set(home, service);
    }
    return service.api();
  }

  async probe(): Promise<BackendProbe> {
    const problem = await this.unavailableBecause();
    const on = (detail: string): FeatureStatus => ({ ok: problem === undefined, detail: problem ?? detail });
    const isRoot = process.getuid?.() === 0;
    return {
      backend: this.name,
      available: problem === undefined,
      ...(problem === undefined ? {} : { reason: problem }),
      isolation: 'kernel',
      features: {
        filesystem: on('a container root: the host system folders read-only (no image) or the image with a writable container layer; workspace, home and tmp bound in'),
        network: on("network none and allowlist: no network namespace device but lo (NetworkMode none); allowlist through agentd-init's relay"),
        pidNamespace: on('own pid, ipc, uts, cgroup and user namespace per container'),
        seccomp: on("agentd's own rules (native/seccomp/gen.c) as the container's seccomp profile (<home>/podman/seccomp.json): no mount, ptrace, namespaces, keyrings, io_uring, bpf..."),
        memoryLimit: on('container cgroup (podman resources.memory, swap = memory)'),
        pidsLimit: on('container cgroup (podman resources.pids)'),
        cpuLimit: on('container cgroup (podman resources.cpu quota/period)'),
        suspend: on('podman pause/unpause (cgroup freezer)'),
        userNamespace: on('each sandbox its own block of 65536 host uids (agent 1000 inside = block + 1000, root inside = the block\'s first)'),
        hostUid: on('an unprivileged host uid per sandbox (its block + 1000), never the daemon\'s'),
        rootInside: on('with an image: uid 0 of its own user namespace (the block\'s first host uid), the namespace backend\'s capability list'),
        images: on("agentd's images, imported into podman's store once per digest; root inside with a reduced capability set"),
        rlimits: on("open files and core size, in the container's r_limits (limits.openFiles, limits.coreBytes)"),
        noNewPrivileges: on('no_new_privileges, every capability dropped (root inside: the namespace backend\'s set)'),
        diskLimit: { ok: false, detail: problem ?? 'not offered by the podman backend' },
        hostPaths: { ok: false, detail: problem ?? 'host paths (allowed_paths, bind mounts) are refused by the podman backend' },
        ...(isRoot ? {} : {}),
      },
    };
  }

  /** Why the backend cannot run here, or undefined. */
  private async unavailableBecause(): Promise<string | undefined> {
    if (this.operatorApi !== undefined) {
      return (await ping(this.operatorApi)) ? undefined : `the podman service at ${this.operatorApi.socketPath} does not answer`;
    }
    if (process.getuid?.() !== 0) return 'the podman backend needs a root daemon (it maps a block of host uids per sandbox)';
    const podman = await this.findPodman();
    if (podman === undefined) return 'no podman binary (apt-get install podman)';
    const runc = await which('runc');
    if (runc === undefined) return 'no runc binary (podman is configured with runtime = "runc")';
    const version = await new Promise<string | undefined>((resolve) => {
      execFile(podman, ['--version'], { timeout: 10_000 }, (err, out) => resolve(err ? undefined : out.trim()));
    });
    if (version === undefined) return `${podman} --version failed`;
    return undefined;
  }

  /** Starts this home's podman service ahead of the first create (a daemon's backend). */
  async prepareHome(sandboxesDir: string): Promise<void> {
    await this.apiFor(dirname(sandboxesDir));
  }

  /** Stops the services this backend started (their containers were stopped by the daemon). */
  async close(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.stopAndWait()));
    this.services.clear();
    this.operatorApi?.close();
  }

  /**
   * Recovery: removes every container labelled with this home whose sandbox id is not in
   * `keepIds` (the daemon's store does not know it, or it is not running); returns their ids.
   */
  async cleanupOrphans(home: string, keepIds: Iterable<string>): Promise<string[]> {
    const keep = new Set(keepIds);
    const api = await this.apiFor(home);
    const filters = encodeURIComponent(JSON.stringify({ label: [`${LABEL_HOME}=${home}`] }));
    const list = await api.call<Array<{ Id: string; Labels?: Record<string, string> }>>('GET', `/containers/json?all=true&filters=${filters}`);
    const removed: string[] = [];
    for (const c of list ?? []) {
      const id = c.Labels?.[LABEL_SANDBOX];
      if (c.Labels?.[LABEL_HOME] !== home || (id !== undefined && keep.has(id))) continue;
      await removeContainer(api, c.Id);
      removed.push(id ?? c.Id);
    }
    // Their cgroups, with the folders podman made in the other hierarchies (only this home's: the parent is shared by every home).
    await dropSandboxCgroups(this.cgroups, removed);
    return removed;
  }

  /**
   * Start-up recovery (isolation/types.ts recover): no sandbox runs yet, so every container
   * labelled with this home is a leftover of a crashed daemon (its attach stream closed, the
   * init exited; the container record and cgroup stay). Nothing to do, and no podman service
   * started, when this home never ran a podman sandbox (no `<home>/podman/`).
   */
  async recover(ctx: RecoverContext): Promise<RecoverReport> {
    if ((await lstat(podmanPaths(ctx.home).dir).catch(() => undefined)) === undefined) return { cgroups: [] };
    try {
      const removed = await this.cleanupOrphans(ctx.home, []);
      return { cgroups: removed, other: removed.map((id) => `podman container of ${id}`) };
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, 'could not remove the podman containers an earlier daemon left');
      return { cgroups: [] };
    }
  }

  /** agentd's seccomp rules as podman's profile (seccomp-profile.ts), written once per home at the first start. */
  private seccompFile(home: string): Promise<string> {
    let file = this.seccompFiles.get(home);
    if (file === undefined) {
      const path = join(podmanPaths(home).dir, 'seccomp.json');
      file = (async () => {
        await mkdir(dirname(path), { recursive: true, mode: 0o711 });
        await writeOwnFile(path, `${JSON.stringify(seccompProfile(), null, 1)}\n`);
        return path;
      })();
      file.catch(() => this.seccompFiles.delete(home));
      this.seccompFiles.set(home, file);
    }
    return file;
  }

  /** podman's name for the image, imported from agentd's store on first use (one import per digest at a time). */
  private async ensureImage(api: PodmanApi, image: NonNullable<SandboxSpec['image']>): Promise<string> {
    const name = podmanImageName(image.digest);
    const key = `${api.socketPath}\0${name}`;
    let pending = this.imports.get(key);
    if (pending === undefined) {
      pending = this.importImage(api, image, name);
      this.imports.set(key, pending);
      pending.catch(() => this.imports.delete(key));
    }
    return pending;
  }

  private async importImage(api: PodmanApi, image: NonNullable<SandboxSpec['image']>, name: string): Promise<string> {
    const exists = await api.raw('GET', `/images/${encodeURIComponent(name)}/exists`);
    if (exists.status === 204) return name;
    const st = await lstat(image.rootfs).catch(() => undefined);
    if (st === undefined || !st.isDirectory()) {
      throw new AgentdError('NOT_FOUND', `image '${image.name}' (${image.digest}) is not in agentd's image store (${image.rootfs} is missing): build or import it again (agentd image build/import)`, { details: { image: image.name, digest: image.digest } });
    }
    this.logger.info({ image: image.name, digest: image.digest }, 'importing the image into podman\'s store');
    // tar of the stored tree (numeric owners kept): podman's own import of a root file system tarball.
    const tar = spawn('tar', ['--numeric-owner', '--xattrs', '-C', image.rootfs, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-2000);
    });
    const tarDone = new Promise<number | null>((resolve) => tar.once('close', resolve));
    const res = await api.raw('POST', `/images/import?reference=${encodeURIComponent(name)}`, tar.stdout, { contentType: 'application/x-tar' });
    const code = await tarDone;
    if (code !== 0) throw new AgentdError('INTERNAL', `tar of image ${image.digest} failed (${code}): ${stderr}`);
    if (res.status !== 200) throw new AgentdError('BACKEND_UNAVAILABLE', `podman could not import image ${image.digest}: ${res.status} ${res.body.toString('utf8').slice(0, 1000)}`);
    return name;
  }

  async start(requested: SandboxSpec, opts: StartOptions = {}): Promise<SandboxHandle> {
    if (opts.signal?.aborted) throw new AgentdError('CANCELLED', 'sandbox start cancelled', { cause: opts.signal.reason });
    const problem = this.operatorApi === undefined && process.getuid?.() !== 0 ? 'the podman backend needs a root daemon' : undefined;
    if (problem !== undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `backend 'podman' is unavailable: ${problem}`);
    const rules = opts.hostPaths ?? NO_HOST_PATHS;
    const spec: SandboxSpec = rules.config.denyPaths.length === 0 ? requested : { ...requested, denyPaths: [...new Set([...rules.config.denyPaths, ...requested.denyPaths])] };
    refuseUnsupported(spec, rules.config);
    const home = homeOf(spec);
    const api = await this.apiFor(home);
    // The sandbox's root folder holds the uid lease: made first (the daemon's, searchable only).
    await mkdir(dirname(spec.dirs.root), { recursive: true, mode: 0o711 });
    await mkdir(spec.dirs.root, { recursive: true, mode: 0o711 });
    const uidBase = await this.uids.acquire(spec.dirs.root, spec.id);
    const agent = { uid: uidBase + AGENT_UID, gid: uidBase + AGENT_UID };
    await ensureSandboxDirs(spec.dirs, { owner: agent, mode: 0o700 });
    // runc binds the sandbox's folders from inside its user namespace: every folder above them must be searchable by others.
    const parent = dirname(spec.dirs.root);
    if (!this.searchable.has(parent)) {
      await ensureSearchable(spec.dirs.root, uidBase);
      this.searchable.add(parent);
    }

    let root: Parameters<typeof containerSpec>[0]['root'];
    if (spec.image !== undefined) {
      root = { image: await this.ensureImage(api, spec.image) };
    } else {
      const hostRoot = await ensureHostRoot(podmanPaths(home).hostRoot);
      const passwdFile = join(spec.dirs.root, '.podman-passwd');
      const groupFile = join(spec.dirs.root, '.podman-group');
      await Promise.all([writeOwnFile(passwdFile, passwdText()), writeOwnFile(groupFile, groupText())]);
      root = { hostRoot: hostRoot.dir, system: hostRoot.system, passwdFile, groupFile };
    }
    const masks = await this.masksFor(spec, agent);
    const name = containerName(home, spec.id);
    // A container of this sandbox left by a daemon that died: gone before the new one.
    await removeContainer(api, name);
    this.limits ??= hostLimits();
    const seccompPath = await this.seccompFile(home);
    // The sandbox's own cgroup (named after its id, holding its limits), the container's cgroup parent.
    // A group left by a start of this sandbox that was cut short (its container is gone, above).
    await dropSandboxCgroup(await this.cgroups.attach(spec.id), spec.id);
    const cgroup = await this.cgroups.create(spec.id, spec.limits);
    let containerId: string | undefined;
    try {
      const body = containerSpec({ spec, name, home, initPath: this.initPath, uidBase, root, masks, hostLimits: await this.limits, seccompPath, cgroupParent: `/${CGROUP_PARENT}/${spec.id}` });
      const created = await api.call<{ Id: string }>('POST', '/containers/create', body, { code: 'BACKEND_UNAVAILABLE' });
      containerId = created.Id;
      return await this.attachAndStart(api, spec, containerId, uidBase, cgroup, opts);
    } catch (err) {
      if (containerId !== undefined) await removeContainer(api, containerId).catch(() => undefined);
      await dropSandboxCgroup(cgroup, spec.id).catch(() => undefined);
      throw toAgentdError(err);
    }
  }

  private async attachAndStart(api: PodmanApi, spec: SandboxSpec, containerId: string, uidBase: number, cgroup: SandboxCgroup, opts: StartOptions): Promise<SandboxHandle> {
    const socket = await api.attach(containerId);
    let stderrTail = '';
    const demux = new AttachDemux(socket, (chunk) => {
      const text = chunk.toString('utf8');
      stderrTail = (stderrTail + text).slice(-4096);
      for (const line of text.split('\n')) if (line.trim() !== '') this.logger.info({ source: 'agentd-init', sandbox: spec.id }, line.slice(0, 4096));
    });
    const streamEnded = new Promise<void>((resolve) => {
      demux.stdout.once('end', () => resolve());
      demux.stdout.once('close', () => resolve());
      socket.once('close', () => resolve());
    });
    const host: { pid?: number } = {};
    const channel = new InitChannel(socket, demux.stdout, {
      logger: this.logger,
      // The init is not trusted: a protocol violation ends the container.
      onViolation: () => void api.raw('POST', `/containers/${containerId}/kill?signal=KILL`).catch(() => undefined),
      forceKill: async (pids) => {
        if (host.pid !== undefined) await killExecFromHost(host.pid, pids);
      },
    });
    const started = await api.raw('POST', `/containers/${containerId}/start`);
    if (started.status !== 204 && started.status !== 304) {
      socket.destroy();
      throw new AgentdError('BACKEND_UNAVAILABLE', `podman could not start the sandbox's container: ${started.status} ${started.body.toString('utf8').slice(0, 2000)}`);
    }
    const timeoutMs = this.options.ready_timeout_ms ?? DEFAULT_READY_MS;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      const failure = new Promise<AgentdError>((resolve) => {
        timer = setTimeout(() => resolve(new AgentdError('TIMEOUT', `agentd-init did not say READY within ${timeoutMs} ms`)), timeoutMs);
        if (opts.signal !== undefined) {
          const signal = opts.signal;
          onAbort = () => resolve(new AgentdError('CANCELLED', 'sandbox start cancelled', { cause: signal.reason }));
          signal.addEventListener('abort', onAbort, { once: true });
        }
      });
      const outcome = await Promise.race([
        channel.ready.then(() => undefined, (err: unknown) => toAgentdError(err)),
        streamEnded.then(() => new AgentdError('SANDBOX_DEAD', 'agentd-init exited before it was READY')),
        failure,
      ]);
      if (outcome !== undefined) {
        socket.destroy();
        throw new AgentdError(outcome.code, `${outcome.message}${stderrTail.trim() ? `; its stderr ends with: ${stderrTail.trim()}` : ''}`, { details: { stderrTail: stderrTail.trim() } });
      }
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) opts.signal?.removeEventListener('abort', onAbort);
    }
    const info = await api.call<{ State?: { Pid?: number } }>('GET', `/containers/${containerId}/json`).catch(() => undefined);
    if (info?.State?.Pid !== undefined && info.State.Pid > 0) host.pid = info.State.Pid;
    return new PodmanSandbox(spec, sandboxEnv(spec), channel, api, containerId, uidBase, cgroup, streamEnded, this.logger, () => this.uids.release(spec.dirs.root, spec.id));
  }

  /**
   * Deny paths: a file is masked by podman (/dev/null bound over it); a folder, or a path that
   * does not exist but could be made (under the sandbox's own folders, or anywhere in an
   * image's writable root), gets an empty, read-only, mode-000 tmpfs. A missing path under a
   * read-only host folder cannot be made by the sandbox: nothing to mask.
   */
  private async masksFor(spec: SandboxSpec, agent: { uid: number; gid: number }): Promise<{ files: string[]; dirs: string[] }> {
    const files: string[] = [];
    const dirs: string[] = [];
    const own: Array<[string, string]> = [[SANDBOX_PATHS.workspace, spec.dirs.workspace], [SANDBOX_PATHS.home, spec.dirs.home], [SANDBOX_PATHS.tmp, spec.dirs.tmp]];
    for (const p of spec.denyPaths) {
      checkSandboxPath(p, 'deny_paths');
      if (p === '/' || ['/proc', '/dev', '/.agentd', SANDBOX_PATHS.workspace, SANDBOX_PATHS.home, SANDBOX_PATHS.tmp, SANDBOX_PATHS.init].some((r) => isUnder(r, p))) {
        throw new AgentdError('INVALID_ARGUMENT', `deny_paths: '${p}' cannot be masked (the sandbox needs it)`, { details: { path: p } });
      }
      const mine = own.find(([inside]) => isUnder(p, inside));
      let hostPath: string | undefined;
      if (mine !== undefined) hostPath = join(mine[1], p.slice(mine[0].length));
      else if (spec.image !== undefined) hostPath = join(spec.image.rootfs, p);
      else hostPath = p;
      const kind = await kindOf(hostPath, mine !== undefined ? agent : undefined, spec.dirs);
      if (kind === 'file') files.push(p);
      else if (kind === 'dir' || mine !== undefined || spec.image !== undefined) dirs.push(p);
      else this.logger.warn({ sandbox: spec.id, path: p }, 'deny path missing under a read-only folder: not masked (the sandbox cannot create it)');
    }
    return { files, dirs };
  }
}

/** What the podman backend does not do: refused with a clear message, never ignored. */
function refuseUnsupported(spec: SandboxSpec, config: { allowedPathsRo: readonly string[]; allowedPathsRw: readonly string[] }): void {
  const paths = [
    ...config.allowedPathsRo.map(() => 'sandbox.allowed_paths_ro (config)'), ...config.allowedPathsRw.map(() => 'sandbox.allowed_paths_rw (config)'),
    ...spec.allowedPathsRo.map(() => 'allowed_paths_ro'), ...spec.allowedPathsRw.map(() => 'allowed_paths_rw'), ...spec.bindMounts.map(() => 'bind_mounts'),
  ];
  if (paths.length > 0) {
    throw new AgentdError('INVALID_ARGUMENT', `backend 'podman' does not mount host paths (${[...new Set(paths)].join(', ')}); use backend 'namespace' for them`, { details: { fields: [...new Set(paths)] } });
  }
  if (spec.limits.diskBytes !== undefined) {
    throw new AgentdError('LIMIT_UNSUPPORTED', "backend 'podman' cannot enforce a disk limit", { details: { limits: ['diskBytes'] } });
  }
  if (spec.ports !== undefined && spec.ports.length > 0) {
    throw new AgentdError('INVALID_ARGUMENT', "backend 'podman' does not expose ports yet", { details: { fields: ['ports'] } });
  }
}

/** A file the daemon owns in the sandbox's root folder, replaced by rename (never written through a link). */
async function writeOwnFile(path: string, text: string): Promise<void> {
  const staged = `${path}.${process.pid}.new`;
  await writeFile(staged, text, { mode: 0o644, flag: 'w' });
  await rename(staged, path);
}

export function createPodmanBackend(ctx: BackendFactoryContext): IsolationBackend {
  return new PodmanBackend(ctx.initPath, ctx.logger, ctx.options);
}

export { podmanEnv };
