import type { ChildProcess } from 'node:child_process';
import { AgentdError } from '../core/errors.js';
import type { Channel } from '../channel/types.js';
import type { Logger } from '../util/logger.js';
import type { SandboxCgroup } from './cgroup/index.js';
import { removeSandboxDirs } from './dirs.js';
import { unmountVolume, volumePaths } from './disk/volume.js';
import { unmountImageRoot } from './namespace/image-root.js';
import type { DestroyOptions, SandboxHandle, SandboxSpec, SandboxUsage } from './types.js';

type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

const SHUTDOWN_GRACE_MS = 2000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * One running sandbox whose first process is agentd-init, started by a backend through
 * `agentd-init --launch`. `child` is the launcher, which became the backend's program
 * (bwrap, or the init itself for host-direct). Processes are found and killed through the
 * cgroup when there is one, else through the init (stdin EOF / SHUTDOWN) and by killing
 * the launcher's process group.
 */
export class InitSandbox implements SandboxHandle {
  readonly exited: Promise<ExitStatus>;
  private alive = true;
  private frozen = false;
  private oomKillsSeen = 0;
  private destroying: Promise<void> | undefined;

  constructor(
    readonly backend: string,
    readonly spec: SandboxSpec,
    readonly baseEnv: Readonly<Record<string, string>>,
    readonly channel: Channel,
    private readonly child: ChildProcess,
    private readonly cgroup: SandboxCgroup | undefined,
    private readonly logger: Logger,
  ) {
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.alive = false;
        resolve({ code, signal });
      };
      if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode, child.signalCode);
      else child.once('exit', done);
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

  private requireFreezer(what: string): SandboxCgroup {
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
    if (this.alive) this.killLauncher();
    await this.exited;
    if (this.cgroup !== undefined) await this.cgroup.remove();
    // An image's overlay is mounted only while its sandbox runs (the layer keeps the files).
    if (this.spec.image !== undefined) await unmountImageRoot(this.spec.dirs);
    // A disk-limit volume is mounted only while its sandbox runs (the image keeps the files).
    if (!opts.keepFiles) await removeSandboxDirs(this.spec.dirs);
    else await unmountVolume(volumePaths(this.spec.dirs.root).mountPoint);
    this.logger.debug({ sandbox: this.id, keepFiles: opts.keepFiles === true }, 'sandbox destroyed');
  }

  /**
   * The launcher was spawned as a process-group leader: killing its group ends bwrap (whose
   * death SIGKILLs the sandbox's PID 1 through die-with-parent) or the host-direct init and
   * anything of it that stayed in its group.
   */
  private killLauncher(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
