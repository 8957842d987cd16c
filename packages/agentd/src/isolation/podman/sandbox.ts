/**
 * One running podman sandbox: its container, whose process is agentd-init, and the channel
 * on the container's attach stream. Suspend/resume = pause/unpause (the cgroup freezer);
 * destroy = the init's SHUTDOWN, then the container removed with force (killed) and its
 * anonymous volumes, then the sandbox's folders.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import type { Channel } from '../../channel/types.js';
import type { Logger } from '../../util/logger.js';
import { removeSandboxDirs } from '../dirs.js';
import { runAs } from '../tree-ops.js';
import type { DestroyOptions, SandboxHandle, SandboxSpec, SandboxUsage } from '../types.js';
import type { PodmanApi } from './api.js';
import { AGENT_UID } from './uids.js';
import type { SandboxCgroup } from '../cgroup/index.js';
import { dropSandboxCgroup } from './cgroup-dirs.js';

type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

const SHUTDOWN_GRACE_MS = 2000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Removes a container (killed first; its anonymous volumes too). Gone already: done. */
export async function removeContainer(api: PodmanApi, id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const res = await api.raw('DELETE', `/containers/${encodeURIComponent(id)}?force=true&v=true&timeout=0`);
    if (res.status === 200 || res.status === 204 || res.status === 404) return;
    // "device or resource busy": the container's exit is still being processed.
    if (attempt < 20) {
      await delay(100);
      continue;
    }
    throw new AgentdError('INTERNAL', `podman could not remove container ${id}: ${res.status} ${res.body.toString('utf8').slice(0, 500)}`);
  }
}

export class PodmanSandbox implements SandboxHandle {
  readonly backend = 'podman';
  readonly exited: Promise<ExitStatus>;
  private alive = true;
  private paused = false;
  private destroying: Promise<void> | undefined;
  private oomKillsSeen = 0;

  constructor(
    readonly spec: SandboxSpec,
    readonly baseEnv: Readonly<Record<string, string>>,
    readonly channel: Channel,
    private readonly api: PodmanApi,
    /** podman's id of the container. */
    readonly containerId: string,
    private readonly uidBase: number,
    private readonly cgroup: SandboxCgroup,
    /** Resolves when the attach stream ended (the init's stdout closed). */
    streamEnded: Promise<void>,
    private readonly logger: Logger,
    private readonly onGone: () => void,
  ) {
    this.exited = streamEnded.then(async () => {
      this.alive = false;
      const state = await this.inspectState().catch(() => undefined);
      if (state === undefined) return { code: null, signal: 'SIGKILL' as NodeJS.Signals };
      // A container killed by a signal reports 128 + signo.
      return { code: state.ExitCode ?? null, signal: null };
    });
  }

  get id(): string {
    return this.spec.id;
  }

  get suspended(): boolean {
    return this.paused;
  }

  isAlive(): boolean {
    return this.alive && !this.channel.isClosed;
  }

  private async inspectState(): Promise<{ Status?: string; ExitCode?: number; Pid?: number } | undefined> {
    const info = await this.api.call<{ State?: { Status?: string; ExitCode?: number; Pid?: number } }>('GET', `/containers/${this.containerId}/json`);
    return info?.State;
  }

  async suspend(): Promise<void> {
    if (!this.isAlive()) throw new AgentdError('SANDBOX_DEAD', `sandbox ${this.id} is not running`);
    if (this.paused) return;
    await this.api.call('POST', `/containers/${this.containerId}/pause`, undefined, { code: 'INTERNAL' });
    this.paused = true;
  }

  async resume(): Promise<void> {
    if (!this.isAlive()) throw new AgentdError('SANDBOX_DEAD', `sandbox ${this.id} is not running`);
    if (!this.paused) return;
    await this.api.call('POST', `/containers/${this.containerId}/unpause`, undefined, { code: 'INTERNAL' });
    this.paused = false;
  }

  /** From the sandbox's own cgroup (the container's parent); `oomKilled` when the OOM killer fired since the previous call. */
  async usage(): Promise<SandboxUsage> {
    const u = await this.cgroup.usage();
    const out: SandboxUsage = {};
    if (u.memoryBytes !== undefined) out.memoryBytes = u.memoryBytes;
    if (u.memoryPeakBytes !== undefined) out.memoryPeakBytes = u.memoryPeakBytes;
    if (u.cpuUsec !== undefined) out.cpuUsec = u.cpuUsec;
    if (u.pids !== undefined) out.pids = u.pids;
    // The kernel counts a v1 OOM kill in the victim's own group: the container's, inside the sandbox's.
    const kills = u.oomKills === undefined ? undefined : u.oomKills + (await innerOomKills(this.cgroup));
    if (kills !== undefined) {
      out.oomKilled = kills > this.oomKillsSeen;
      this.oomKillsSeen = kills;
    }
    return out;
  }

  destroy(opts: DestroyOptions = {}): Promise<void> {
    this.destroying ??= this.doDestroy(opts).catch((err: unknown) => {
      this.destroying = undefined;
      throw err;
    });
    return this.destroying;
  }

  private async doDestroy(opts: DestroyOptions): Promise<void> {
    if (this.paused) {
      await this.api.call('POST', `/containers/${this.containerId}/unpause`).catch(() => undefined);
      this.paused = false;
    }
    if (this.isAlive()) {
      const grace = delay(SHUTDOWN_GRACE_MS);
      await Promise.race([this.channel.shutdown().catch(() => undefined), grace]);
      await Promise.race([this.exited, grace]);
    }
    await removeContainer(this.api, this.containerId);
    await this.exited;
    await dropSandboxCgroup(this.cgroup, this.id);
    if (!opts.keepFiles) {
      await giveRootFilesToAgent(this.spec, this.uidBase);
      await removeSandboxDirs(this.spec.dirs);
      this.onGone();
    }
    this.logger.debug({ sandbox: this.id, keepFiles: opts.keepFiles === true }, 'podman sandbox destroyed');
  }
}

/** OOM kills counted in the groups inside the sandbox's (cgroup v1: podman's container and conmon groups). */
async function innerOomKills(group: SandboxCgroup): Promise<number> {
  const memory = group.paths.memory;
  if (memory?.version !== 1) return 0;
  let n = 0;
  const inner = await readdir(memory.dir, { withFileTypes: true }).catch(() => []);
  for (const e of inner) {
    if (!e.isDirectory()) continue;
    const text = await readFile(join(memory.dir, e.name, 'memory.oom_control'), 'utf8').catch(() => '');
    const m = /^oom_kill (\d+)$/m.exec(text);
    if (m?.[1] !== undefined) n += Number(m[1]);
  }
  return n;
}

/**
 * Root inside (a sandbox with an image) may have left files in workspace, home or tmp owned
 * by the block's first uid: given to the agent uid (the folders' owner) so the owner-dropped
 * removal (tree-ops.ts) can remove them. No process of the sandbox is left; chown -P never
 * follows a link.
 */
export async function giveRootFilesToAgent(spec: SandboxSpec, uidBase: number): Promise<void> {
  if (spec.image === undefined) return;
  const agent = uidBase + AGENT_UID;
  for (const d of [spec.dirs.workspace, spec.dirs.home, spec.dirs.tmp]) {
    await runAs(undefined, ['chown', '-R', '-P', `--from=${uidBase}`, String(agent), d]).catch(() => undefined);
    await runAs(undefined, ['chown', '-R', '-P', `--from=:${uidBase}`, `:${agent}`, d]).catch(() => undefined);
  }
}
