import type { ChildProcess } from 'node:child_process';
import { AgentdError } from '../core/errors.js';
import type { Channel } from '../channel/types.js';
import type { Logger } from '../util/logger.js';
import type { SandboxCgroup } from './cgroup/index.js';
import { removeSandboxDirs } from './dirs.js';
import { unmountVolume, volumePaths } from './disk/volume.js';
import type { DestroyOptions, SandboxDirs, SandboxHandle, SandboxSpec, SandboxUsage } from './types.js';

export type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

const SHUTDOWN_GRACE_MS = 2000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * What started the sandbox's init and stands for its life on the host: a local child process
 * (bwrap, `agentd-init --launch`), a container runtime's process, a VM monitor, a podman
 * attach stream. The handle needs only these two things of it.
 */
export interface InitLauncher {
  /** Resolves once when the init is gone for good (the launcher exited, the container stopped, the VM powered off). */
  readonly exited: Promise<ExitStatus>;
  /** Ends the launcher hard (every process of the sandbox dies with it). Called at most after a graceful SHUTDOWN failed; idempotent, never throws. */
  kill(): void;
}

/**
 * The group holding every process of the sandbox, when there is one: a cgroup (cgroup/group.ts),
 * or a runtime's own pause/kill (`runc pause`, a VM's stop). Without one, suspend is refused
 * (LIMIT_UNSUPPORTED) and usage() is empty.
 */
export type InitGroup = Pick<SandboxCgroup, 'canFreeze' | 'freeze' | 'thaw' | 'killAll' | 'remove' | 'usage'>;

/** The options form of InitSandbox's constructor (the positional form stays for existing backends). */
export interface InitSandboxOptions {
  backend: string;
  spec: SandboxSpec;
  /** Backend defaults (PATH, HOME, USER...) under spec.env: the base of every exec. */
  baseEnv: Readonly<Record<string, string>>;
  channel: Channel;
  /** A local child process (wrapped by childLauncher) or any launcher. */
  launcher: InitLauncher | ChildProcess;
  group?: InitGroup | undefined;
  logger: Logger;
  /**
   * What the backend made for this run only and undoes at every destroy (stop included), once
   * no process of the sandbox is left and before its folders go: the namespace backend's image
   * overlay, a container's registration. Its failure fails the destroy (retried by the next).
   */
  teardown?: () => Promise<void>;
  /** Removes the sandbox's folders at a destroy without keepFiles (default dirs.ts removeSandboxDirs). */
  removeFiles?: (dirs: SandboxDirs) => Promise<void>;
}

/** A local child process as an InitLauncher: its exit, and SIGKILL to its process group (it was spawned as a group leader) and itself. */
export function childLauncher(child: ChildProcess): InitLauncher {
  const exited = new Promise<ExitStatus>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    exited,
    kill(): void {
      const pid = child.pid;
      if (pid === undefined) return;
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}

function isLauncher(l: InitLauncher | ChildProcess): l is InitLauncher {
  return 'exited' in l && !('stdio' in l);
}

/**
 * One running sandbox whose first process is agentd-init, reached through `channel`. The
 * launcher stands for the init's life; processes are found and killed through the group
 * when there is one, else through the init (stdin EOF / SHUTDOWN) and the launcher's kill.
 * Backend-specific cleanup comes in as `teardown` and `removeFiles` (options form): nothing
 * here knows a backend.
 */
export class InitSandbox implements SandboxHandle {
  readonly exited: Promise<ExitStatus>;
  readonly backend: string;
  readonly spec: SandboxSpec;
  readonly baseEnv: Readonly<Record<string, string>>;
  readonly channel: Channel;
  private readonly launcher: InitLauncher;
  private readonly cgroup: InitGroup | undefined;
  private readonly logger: Logger;
  private readonly teardown: (() => Promise<void>) | undefined;
  private readonly removeFiles: (dirs: SandboxDirs) => Promise<void>;
  private alive = true;
  private frozen = false;
  private oomKillsSeen = 0;
  private destroying: Promise<void> | undefined;

  constructor(opts: InitSandboxOptions);
  /** The positional form (kept for existing backends): a local child process, a cgroup, no teardown. */
  constructor(backend: string, spec: SandboxSpec, baseEnv: Readonly<Record<string, string>>, channel: Channel, child: ChildProcess, cgroup: SandboxCgroup | undefined, logger: Logger);
  constructor(
    first: InitSandboxOptions | string,
    spec?: SandboxSpec,
    baseEnv?: Readonly<Record<string, string>>,
    channel?: Channel,
    child?: ChildProcess,
    cgroup?: SandboxCgroup,
    logger?: Logger,
  ) {
    const o: InitSandboxOptions = typeof first === 'string'
      ? { backend: first, spec: spec as SandboxSpec, baseEnv: baseEnv as Readonly<Record<string, string>>, channel: channel as Channel, launcher: child as ChildProcess, group: cgroup, logger: logger as Logger }
      : first;
    this.backend = o.backend;
    this.spec = o.spec;
    this.baseEnv = o.baseEnv;
    this.channel = o.channel;
    this.launcher = isLauncher(o.launcher) ? o.launcher : childLauncher(o.launcher);
    this.cgroup = o.group;
    this.logger = o.logger;
    this.teardown = o.teardown;
    this.removeFiles = o.removeFiles ?? removeSandboxDirs;
    this.exited = this.launcher.exited.then((status) => {
      this.alive = false;
      return status;
    });
  }

  get id(): string {
    return this.spec.id;
  }

  get suspended(): boolean {
    return this.frozen;
  }

  isAlive(): boolean {
    return this.alive && !this.channel.isClosed;
  }

  private requireFreezer(what: string): InitGroup {
    if (this.cgroup === undefined || !this.cgroup.canFreeze) {
      throw new AgentdError('LIMIT_UNSUPPORTED', `cannot ${what} sandbox ${this.id}: it has no cgroup freezer on this host (see 'agentd doctor')`, { details: { sandboxId: this.id } });
    }
    if (!this.isAlive()) throw new AgentdError('SANDBOX_DEAD', `sandbox ${this.id} is not running`);
    return this.cgroup;
  }

  async suspend(): Promise<void> {
    const cg = this.requireFreezer('suspend');
    if (this.frozen) return;
    await cg.freeze();
    this.frozen = true;
  }

  async resume(): Promise<void> {
    const cg = this.requireFreezer('resume');
    if (!this.frozen) return;
    await cg.thaw();
    this.frozen = false;
  }

  /** Usage from the cgroup; `oomKilled` is true when the OOM killer fired since the previous call. */
  async usage(): Promise<SandboxUsage> {
    if (this.cgroup === undefined) return {};
    const u = await this.cgroup.usage();
    const out: SandboxUsage = {};
    if (u.memoryBytes !== undefined) out.memoryBytes = u.memoryBytes;
    if (u.memoryPeakBytes !== undefined) out.memoryPeakBytes = u.memoryPeakBytes;
    if (u.cpuUsec !== undefined) out.cpuUsec = u.cpuUsec;
    if (u.pids !== undefined) out.pids = u.pids;
    if (u.oomKills !== undefined) {
      out.oomKilled = u.oomKills > this.oomKillsSeen;
      this.oomKillsSeen = u.oomKills;
    }
    return out;
  }

  /** Concurrent calls share one teardown; a teardown that failed can be tried again by the next call. */
  destroy(opts: DestroyOptions = {}): Promise<void> {
    this.destroying ??= this.doDestroy(opts).catch((err: unknown) => {
      this.destroying = undefined;
      throw err;
    });
    return this.destroying;
  }

  private async doDestroy(opts: DestroyOptions): Promise<void> {
    if (this.frozen && this.cgroup !== undefined) {
      // A frozen init cannot answer SHUTDOWN; killAll below copes with frozen groups anyway.
      await this.cgroup.thaw().catch(() => undefined);
      this.frozen = false;
    }
    if (this.isAlive()) {
      // The init kills everything it started and exits; bwrap (or the launcher) then exits too.
      // Waiting for that (instead of killing the launcher first) leaves no zombie behind.
      const grace = delay(SHUTDOWN_GRACE_MS);
      await Promise.race([this.channel.shutdown().catch(() => undefined), grace]);
      await Promise.race([this.exited, grace]);
    }
    if (this.cgroup !== undefined) await this.cgroup.killAll();
    if (this.alive) this.launcher.kill();
    await this.exited;
    if (this.cgroup !== undefined) await this.cgroup.remove();
    // What the backend mounted for this run only (an image's overlay: the layer keeps the files).
    await this.teardown?.();
    // A disk-limit volume is mounted only while its sandbox runs (the image keeps the files).
    if (!opts.keepFiles) await this.removeFiles(this.spec.dirs);
    else await unmountVolume(volumePaths(this.spec.dirs.root).mountPoint);
    this.logger.debug({ sandbox: this.id, keepFiles: opts.keepFiles === true }, 'sandbox destroyed');
  }
}
