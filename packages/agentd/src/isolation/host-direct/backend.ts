import { userInfo } from 'node:os';
import { z } from 'zod';
import { AgentdError } from '../../core/errors.js';
import { spawnInit } from '../../channel/spawn.js';
import type { Logger } from '../../util/logger.js';
import { CgroupDriver, cgroupLimits, removeLeftoverCgroups, type CgroupProbe } from '../cgroup/index.js';
import { ensureSandboxDirs, removeSandboxDirs } from '../dirs.js';
import { NO_HOST_PATHS, type HostPathRules } from '../host-paths.js';
import { sandboxBaseEnv } from '../exec-env.js';
import { InitSandbox } from '../init-sandbox.js';
import type { BackendFactoryContext, BackendProbe, IsolationBackend, RecoverContext, RecoverReport, SandboxHandle, SandboxSpec, StartOptions } from '../types.js';

const NO = (detail: string) => ({ ok: false, detail });

/** Environment of the init and base of every exec: nothing of the daemon's is inherited; the spec's env wins. */
export function hostDirectEnv(spec: SandboxSpec): Record<string, string> {
  // Commands run as the daemon's own user: USER/LOGNAME name it; HOME and TMPDIR are the sandbox's folders.
  return sandboxBaseEnv({ path: '/usr/local/bin:/usr/bin:/bin', home: spec.dirs.home, tmp: spec.dirs.tmp, user: daemonUser() }, spec.env);
}

function daemonUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'agentd');
  }
}

/** Options of the host-direct backend (`isolation.backends.host-direct` in the config). */
export const HostDirectOptionsSchema = z
  .object({
    nice: z.number().int().min(-20).max(19).optional().describe('Niceness of the init and everything it starts (default 10: sandboxed work yields to the host).'),
  })
  .strict();

function niceOption(options: Record<string, unknown>): number {
  const parsed = HostDirectOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `isolation.backends.host-direct${i.path.length ? `.${i.path.join('.')}` : ''}: ${i.message}`);
    throw new AgentdError('INVALID_CONFIG', issues.join('; '), { details: { issues } });
  }
  return parsed.data.nice ?? 10;
}

/** `agentd-init --launch` joins the cgroup and sets nice and rlimits, then execs the init itself. */
export function launchArgv(initPath: string, spec: SandboxSpec, nice: number, cgroupProcs: readonly string[]): string[] {
  const argv = [initPath, '--launch'];
  for (const f of cgroupProcs) argv.push('--cgroup-procs', f);
  argv.push('--nice', String(nice), '--rlimit', `core=${spec.limits.coreBytes ?? 0}`);
  if (spec.limits.openFiles !== undefined) argv.push('--rlimit', `nofile=${spec.limits.openFiles}`);
  argv.push('--', initPath, '--fs-root', spec.dirs.workspace, '--subreaper');
  return argv;
}

function refuseNetwork(spec: SandboxSpec): void {
  if (spec.network !== 'host') {
    throw new AgentdError('ISOLATION_REQUIRED', `backend 'host-direct' cannot restrict the network (asked: '${spec.network}'); use backend 'namespace' or network 'host'`, {
      details: { network: spec.network },
    });
  }
}

/**
 * host-direct shows commands the whole host file system: it can neither add a host path nor
 * hide one. Any path rule, from the request or the config, is refused, never ignored.
 */
function refusePathRules(spec: SandboxSpec, rules: HostPathRules): void {
  const given: string[] = [
    ...(rules.config.allowedPathsRo.length > 0 ? ['sandbox.allowed_paths_ro (config)'] : []),
    ...(rules.config.allowedPathsRw.length > 0 ? ['sandbox.allowed_paths_rw (config)'] : []),
    ...(rules.config.denyPaths.length > 0 ? ['sandbox.deny_paths (config)'] : []),
    ...(spec.allowedPathsRo.length > 0 ? ['allowed_paths_ro'] : []),
    ...(spec.allowedPathsRw.length > 0 ? ['allowed_paths_rw'] : []),
    ...(spec.bindMounts.length > 0 ? ['bind_mounts'] : []),
    ...(spec.denyPaths.length > 0 ? ['deny_paths'] : []),
  ];
  if (given.length === 0) return;
  throw new AgentdError(
    'ISOLATION_REQUIRED',
    `backend 'host-direct' cannot enforce path rules (its commands see the whole host file system): ${given.join(', ')}; use backend 'namespace'${given.some((g) => g.endsWith('(config)')) ? ', or remove them from the config' : ''}`,
    { details: { rule: 'path_rules', fields: given } },
  );
}

/**
 * host-direct: agentd-init started straight on the host. No isolation at all (said loudly);
 * file operations are confined to the workspace by the init's RESOLVE_IN_ROOT; limits and
 * suspend come from a cgroup when the host lets the daemon create one (root), and are
 * refused otherwise.
 */
export class HostDirectBackend implements IsolationBackend {
  readonly name = 'host-direct';
  readonly isolation = 'none' as const;
  private readonly nice: number;
  private readonly cgroups = new CgroupDriver();
  private cgroupProbe: Promise<CgroupProbe | undefined> | undefined;
  private warned = false;

  constructor(
    private readonly initPath: string,
    private readonly logger: Logger,
    options: Record<string, unknown> = {},
  ) {
    this.nice = niceOption(options);
  }

  /** The host's cgroups, probed once. */
  private cgroupState(): Promise<CgroupProbe | undefined> {
    this.cgroupProbe ??= this.cgroups.probe().catch(() => undefined);
    return this.cgroupProbe;
  }

  async probe(): Promise<BackendProbe> {
    const cg = await this.cgroupState();
    const none = NO('host-direct runs commands directly on the host');
    const controller = (name: 'memory' | 'pids' | 'cpu' | 'freezer') => cg?.controllers[name] ?? NO('cgroups not usable');
    return {
      backend: this.name,
      available: true,
      isolation: 'none',
      features: {
        filesystem: NO('commands see the whole host filesystem; only file operations are confined to the workspace'),
        network: NO('commands use the host network'),
        pidNamespace: none,
        seccomp: none,
        memoryLimit: controller('memory'),
        pidsLimit: controller('pids'),
        cpuLimit: controller('cpu'),
        suspend: controller('freezer'),
        rlimits: { ok: true, detail: `open files and core size; nice ${this.nice}` },
        diskLimit: { ok: false, detail: 'commands write wherever the daemon\'s user can: no disk limit' },
        images: NO('commands see the host\'s own root file system: no image'),
        rootInside: NO('commands run as the daemon\'s own user on the host'),
      },
    };
  }

  /** A crashed daemon's host-direct sandboxes may still run: their cgroups (default parent) are emptied and removed. */
  async recover(ctx: RecoverContext): Promise<RecoverReport> {
    const cgroups = await removeLeftoverCgroups(this.cgroups, ctx.ours, (err) => ctx.logger.warn({ err: err.message }, 'could not clean up a leftover sandbox cgroup'));
    return { cgroups };
  }

  async start(spec: SandboxSpec, opts: StartOptions = {}): Promise<SandboxHandle> {
    refuseNetwork(spec);
    refusePathRules(spec, opts.hostPaths ?? NO_HOST_PATHS);
    if (spec.limits.diskBytes !== undefined) {
      // Its processes write anywhere the daemon's user can: a volume for the workspace would bound nothing.
      throw new AgentdError('LIMIT_UNSUPPORTED', "backend 'host-direct' cannot enforce a disk limit: its commands write wherever the daemon's user can; use backend 'namespace' as root", {
        details: { limits: ['diskBytes'] },
      });
    }
    const cg = await this.cgroupState();
    const usable = cg !== undefined && Object.values(cg.controllers).some((c) => c.ok);
    const wanted = cgroupLimits(spec.limits);
    if (wanted.length > 0 && !usable) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `backend 'host-direct' cannot enforce ${wanted.map((l) => l.field).join(', ')} here: no usable cgroup (see 'agentd doctor'); drop these limits or run as root`, {
        details: { limits: wanted.map((l) => l.field) },
      });
    }
    if (!this.warned) {
      this.warned = true;
      this.logger.warn({ sandbox: spec.id }, "backend 'host-direct' gives NO isolation: commands run on the host as the daemon's user, with the host's files and network");
    }
    await ensureSandboxDirs(spec.dirs);
    const cgroup = usable ? await this.cgroups.create(spec.id, spec.limits) : undefined;
    const env = hostDirectEnv(spec);
    try {
      const { child, channel } = await spawnInit(launchArgv(this.initPath, spec, this.nice, cgroup?.procsFiles ?? []), {
        cwd: spec.workdir ?? spec.dirs.workspace,
        env,
        ...(opts.signal ? { signal: opts.signal } : {}),
        logger: this.logger,
      });
      return new InitSandbox({ backend: this.name, spec, baseEnv: env, channel, launcher: child, group: cgroup, logger: this.logger });
    } catch (err) {
      await cgroup?.remove().catch(() => undefined);
      await removeSandboxDirs(spec.dirs).catch(() => undefined);
      throw err;
    }
  }
}

export function createHostDirectBackend(ctx: BackendFactoryContext): IsolationBackend {
  return new HostDirectBackend(ctx.initPath, ctx.logger, ctx.options);
}
