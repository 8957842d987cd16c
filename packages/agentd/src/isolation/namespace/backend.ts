import { chmod, chown, open, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { spawnInit } from '../../channel/spawn.js';
import { nativePaths } from '../../native-paths.js';
import type { Logger } from '../../util/logger.js';
import { CgroupDriver, cgroupLimits } from '../cgroup/index.js';
import { ensureSandboxDirs } from '../dirs.js';
import type { BackendFactoryContext, BackendProbe, IsolationBackend, SandboxHandle, SandboxSpec, StartOptions } from '../types.js';
import { bwrapArgs } from './bwrap-args.js';
import { groupText, passwdText } from './etc-files.js';
import { gatherHostFacts, type HostFacts } from './host-facts.js';
import { launchArgv } from './launch.js';
import { baseMounts, hostPathOf, planMounts, type PathKind } from './mounts.js';
import { parseNamespaceOptions, type NamespaceOptions } from './options.js';
import { probeNamespace } from './probe.js';
import { NamespaceSandbox } from './sandbox.js';

/** The fd bwrap reads the seccomp filter from (the first fd after stdin/stdout/stderr). */
const SECCOMP_FD = 3;

/** Files the backend writes into each sandbox's root folder (outside what the sandbox sees). */
const SANDBOX_FILES = { passwd: '.ns-passwd', group: '.ns-group', mask: '.ns-mask' } as const;

async function kindOf(path: string | undefined): Promise<PathKind> {
  if (path === undefined) return 'missing';
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) return 'missing';
  return st.isDirectory() ? 'dir' : 'file';
}

/**
 * bwrap runs as the sandbox's host uid and opens the sandbox's folders by path, so every
 * ancestor must be searchable by it. The folder holding the sandboxes (`sandboxes/`) only
 * lists sandbox folders (each mode 0700, owned by its sandbox): it is made 0711 here;
 * any other ancestor that is not searchable is a configuration error, reported as such.
 */
async function ensureSearchable(root: string, uid: number): Promise<void> {
  const parent = dirname(root);
  const st = await stat(parent);
  if ((st.mode & 0o001) === 0) await chmod(parent, (st.mode & 0o7777) | 0o011);
  for (let dir = dirname(parent); ; dir = dirname(dir)) {
    const d = await stat(dir);
    const searchable = (d.mode & 0o001) !== 0 || (d.uid === uid && (d.mode & 0o100) !== 0);
    if (!searchable) {
      throw new AgentdError('BACKEND_UNAVAILABLE', `sandboxes run as host uid ${uid}, which cannot reach ${root}: ${dir} is not searchable by others (chmod o+x it, or move AGENTD_HOME)`, { details: { dir } });
    }
    if (dir === dirname(dir)) return;
  }
}

export class NamespaceBackend implements IsolationBackend {
  readonly name = 'namespace';
  readonly isolation = 'kernel' as const;
  private readonly options: NamespaceOptions;
  private readonly cgroups: CgroupDriver;
  private readonly seccompPath: string;
  private facts: Promise<HostFacts> | undefined;
  /** Folders holding sandbox folders already checked by ensureSearchable (ancestors rarely change). */
  private readonly searchable = new Set<string>();

  constructor(
    private readonly initPath: string,
    private readonly logger: Logger,
    options: Record<string, unknown> = {},
  ) {
    this.options = parseNamespaceOptions(options);
    this.cgroups = new CgroupDriver(this.options.cgroup_parent === undefined ? {} : { parent: this.options.cgroup_parent });
    this.seccompPath = this.options.seccomp_path ?? nativePaths().seccompBpf;
  }

  /** Host facts, gathered once (bwrap's path and version, system dirs, cgroups, uid drop). */
  private hostFacts(): Promise<HostFacts> {
    this.facts ??= gatherHostFacts(this.options, this.cgroups).catch((err: unknown) => {
      // Not cached: the next call tries again.
      this.facts = undefined;
      throw err;
    });
    return this.facts;
  }

  probe(): Promise<BackendProbe> {
    return this.hostFacts().then((facts) => probeNamespace({ facts, initPath: this.initPath, seccompPath: this.seccompPath }));
  }

  /**
   * For a daemon that starts after a crash: the crashed daemon's sandboxes died with it
   * (die-with-parent, and their init's stdin closed), but their cgroups stay behind. Kills
   * whatever is left in, and removes, every sandbox cgroup whose id is not in `keepIds`.
   */
  cleanupOrphans(keepIds: Iterable<string>, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    return this.cgroups.cleanupOrphans(keepIds, opts);
  }

  async start(spec: SandboxSpec, opts: StartOptions = {}): Promise<SandboxHandle> {
    if (opts.signal?.aborted) throw new AgentdError('CANCELLED', 'sandbox start cancelled', { cause: opts.signal.reason });
    const facts = await this.hostFacts();
    if (facts.bwrapPath === undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `backend 'namespace' is unavailable: ${facts.bwrapProblem}`);
    if (facts.dropProblem !== undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `backend 'namespace' is unavailable: ${facts.dropProblem}`);
    const etc = { passwdFile: join(spec.dirs.root, SANDBOX_FILES.passwd), groupFile: join(spec.dirs.root, SANDBOX_FILES.group) };
    // Validate everything that can be validated before touching the host.
    const base = baseMounts({ spec, system: facts.system, initPath: this.initPath, ...etc });
    bwrapArgs({ spec, mounts: base });
    const wantsCgroupLimits = cgroupLimits(spec.limits).length > 0;
    const cgroupUsable = facts.cgroup !== undefined && Object.values(facts.cgroup.controllers).some((c) => c.ok);
    if (!cgroupUsable && (wantsCgroupLimits || this.options.require_cgroup === true)) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `backend 'namespace' cannot enforce limits here: no usable cgroup (${facts.cgroupProblem ?? 'see agentd doctor'})`, {
        details: { limits: cgroupLimits(spec.limits).map((l) => l.field) },
      });
    }

    // Folders and cgroup are independent: prepare both at once, undo the cgroup if either fails.
    const [dirs, made] = await Promise.allSettled([
      this.prepareDirs(spec, facts, etc),
      cgroupUsable ? this.cgroups.create(spec.id, spec.limits) : Promise.resolve(undefined),
    ]);
    const cgroup = made.status === 'fulfilled' ? made.value : undefined;
    try {
      if (dirs.status === 'rejected') throw dirs.reason;
      if (made.status === 'rejected') throw made.reason;
      const maskFile = join(spec.dirs.root, SANDBOX_FILES.mask);
      const kinds = await Promise.all(spec.denyPaths.map((p) => kindOf(hostPathOf(base, p))));
      const denyKinds: Record<string, PathKind> = Object.fromEntries(spec.denyPaths.map((p, i) => [p, kinds[i] ?? 'missing']));
      const plan = planMounts({ spec, system: facts.system, initPath: this.initPath, ...etc, maskFile, denyKinds });
      if (plan.unmaskable.length > 0) {
        this.logger.warn({ sandbox: spec.id, paths: plan.unmaskable }, 'deny paths that do not exist under a read-only mount are not masked (the sandbox cannot create them)');
      }
      const argv = launchArgv({
        initPath: this.initPath,
        bwrapPath: facts.bwrapPath,
        bwrapArgs: bwrapArgs({ spec, mounts: plan.mounts, seccompFd: SECCOMP_FD }),
        cgroupProcs: cgroup?.procsFiles ?? [],
        limits: spec.limits,
        ...(facts.dropTo === undefined ? {} : { dropTo: facts.dropTo }),
        ...(facts.dropWith === undefined ? {} : { dropWith: facts.dropWith }),
      });
      const filter = await open(this.seccompPath, 'r').catch((err: Error) => {
        throw new AgentdError('BACKEND_UNAVAILABLE', `seccomp filter ${this.seccompPath} cannot be read (${err.message}); build it with 'npm run build:native'`, { cause: err });
      });
      let started;
      try {
        started = await spawnInit(argv, {
          cwd: '/',
          env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
          extraFds: [filter.fd],
          logger: this.logger,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } finally {
        await filter.close();
      }
      return new NamespaceSandbox(spec, started.channel, started.child, cgroup, this.logger);
    } catch (err) {
      await cgroup?.remove().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Creates the sandbox's folders and the files bound into it. When the daemon is root the
   * folders belong to the sandbox's host uid (bwrap runs as that uid and must reach them).
   */
  private async prepareDirs(spec: SandboxSpec, facts: HostFacts, etc: { passwdFile: string; groupFile: string }): Promise<void> {
    await ensureSandboxDirs(spec.dirs);
    const work: Promise<unknown>[] = [
      writeFile(etc.passwdFile, passwdText(), { mode: 0o644 }),
      writeFile(etc.groupFile, groupText(), { mode: 0o644 }),
      // Mode 000: a non-root daemon could not reopen it for writing, so create it only once.
      writeFile(join(spec.dirs.root, SANDBOX_FILES.mask), '', { mode: 0o000, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      }),
    ];
    if (facts.dropTo !== undefined) {
      const { uid, gid } = facts.dropTo;
      work.push(...[spec.dirs.root, spec.dirs.workspace, spec.dirs.home, spec.dirs.tmp].map((d) => chown(d, uid, gid)));
      const parent = dirname(spec.dirs.root);
      if (!this.searchable.has(parent)) {
        work.push(ensureSearchable(spec.dirs.root, uid).then(() => this.searchable.add(parent)));
      }
    }
    await Promise.all(work);
  }
}

export function createNamespaceBackend(ctx: BackendFactoryContext): IsolationBackend {
  return new NamespaceBackend(ctx.initPath, ctx.logger, ctx.options);
}
