/**
 * The podman REST service a backend starts for itself: `podman system service` on a Unix
 * socket under `<home>/podman/`, with its own containers.conf and storage.conf (written
 * before the store is first made: a store made without them stalls every run here), its own
 * graph root and run root. The service is a child of the daemon in its own process group;
 * it keeps running between calls (`--time=0`) and is stopped with the backend (close()).
 * Containers outlive it (each has its conmon): a daemon that died leaves them to recovery.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import type { Logger } from '../../util/logger.js';
import { PodmanApi } from './api.js';

export interface PodmanPaths {
  dir: string;
  containersConf: string;
  storageConf: string;
  graphRoot: string;
  runRoot: string;
  socket: string;
  /** The pid of the service this backend started (a one-shot `agentd run` leaves it running for the next). */
  pidFile: string;
  /** The read-only skeleton a sandbox without an image gets as its root (host-root.ts). */
  hostRoot: string;
}

/**
 * podman refuses a run root longer than 50 characters (and a Unix socket path has ~108):
 * the run root, which holds the socket, is `/run/agentd-podman/<hash of the home>` (a tmpfs,
 * as podman's own default run root), whatever the home's length.
 */
export function runRootFor(home: string): string {
  return join(RUN_BASE, createHash('sha256').update(resolve(home)).digest('hex').slice(0, 16));
}

const RUN_BASE = '/run/agentd-podman';

export function podmanPaths(home: string): PodmanPaths {
  const dir = join(home, 'podman');
  const runRoot = runRootFor(home);
  return {
    dir,
    containersConf: join(dir, 'containers.conf'),
    storageConf: join(dir, 'storage.conf'),
    graphRoot: join(dir, 'storage'),
    runRoot,
    socket: join(runRoot, 'podman.sock'),
    pidFile: join(dir, 'service.pid'),
    hostRoot: join(dir, 'host-root'),
  };
}

/** The settings this kind of host needs (docs/backends.md, "podman"). */
export function containersConf(p: PodmanPaths): string {
  return [
    '# Written by agentd (isolation/podman/service.ts); rewritten at each start.',
    '[containers]',
    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    'log_driver = "none"',
    '',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    // podman's own temporary state (its locks, the events file): this home's, not the host-wide /run/libpod.
    `tmp_dir = ${JSON.stringify(join(p.runRoot, 'libpod'))}`,
    '',
  ].join('\n');
}

export function storageConf(p: PodmanPaths): string {
  return [
    '# Written by agentd (isolation/podman/service.ts) before the store was first made.',
    '[storage]',
    'driver = "overlay"',
    `graphroot = ${JSON.stringify(p.graphRoot)}`,
    `runroot = ${JSON.stringify(p.runRoot)}`,
    '',
  ].join('\n');
}

/** The environment podman runs with: its two configuration files and nothing of the daemon's. */
export function podmanEnv(p: PodmanPaths): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    CONTAINERS_CONF: p.containersConf,
    CONTAINERS_STORAGE_CONF: p.storageConf,
    HOME: p.dir,
    XDG_RUNTIME_DIR: p.runRoot,
  };
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

export class PodmanService {
  private child: ChildProcess | undefined;
  /** The pid of a service of this home found running (its pid file, checked against its command line). */
  private adopted: number | undefined;
  private starting: Promise<PodmanApi> | undefined;

  constructor(
    private readonly podmanPath: string,
    readonly paths: PodmanPaths,
    private readonly logger: Logger,
  ) {}

  /** The API of the running service, started on first use (a service this home's earlier daemon left running is reused). */
  api(): Promise<PodmanApi> {
    this.starting ??= this.start().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async start(): Promise<PodmanApi> {
    const p = this.paths;
    // Searchable (never listable) by others: runc, in a sandbox's user namespace, reaches its root and podman's files through them.
    await mkdir(p.dir, { recursive: true, mode: 0o711 });
    await chmod(p.dir, 0o711);
    await mkdir(RUN_BASE, { recursive: true, mode: 0o711 });
    await mkdir(p.runRoot, { recursive: true, mode: 0o711 });
    await chmod(p.runRoot, 0o711);
    await writeFile(p.containersConf, containersConf(p), { mode: 0o600 });
    // storage.conf must be there before the store is first made; it never changes afterwards.
    if (!(await exists(p.storageConf)) || !(await exists(p.graphRoot))) await writeFile(p.storageConf, storageConf(p), { mode: 0o600 });
    const api = new PodmanApi(p.socket);
    // A service left by a daemon that died (or by a one-shot run) answers already: adopted, and stopped with this backend.
    if (await ping(api)) {
      this.adopted = await adoptablePid(p);
      return api;
    }
    await rm(p.socket, { force: true });
    const child = spawn(this.podmanPath, ['--root', p.graphRoot, '--runroot', p.runRoot, 'system', 'service', '--time=0', `unix://${p.socket}`], {
      // conmon inherits the cwd and writes files there (an `oom` marker when a container's OOM killer fired): the backend's folder.
      cwd: p.dir, env: podmanEnv(p), stdio: ['ignore', 'ignore', 'pipe'], detached: true,
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-4096);
    });
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => resolve(err.message));
      child.once('exit', (code, signal) => resolve(`exited with ${signal ?? `code ${code}`}`));
    });
    let gone: string | undefined;
    void exited.then((why) => {
      gone = why;
      if (this.child === child) {
        this.child = undefined;
        this.starting = undefined;
        this.logger.warn({ why, stderr: stderr.trim().slice(-500) }, 'podman service stopped');
      }
    });
    this.child = child;
    child.unref();
    // Whoever must stop a service left running (an operator, a test) finds it here.
    if (child.pid !== undefined) await writeFile(p.pidFile, `${child.pid}\n`, { mode: 0o600 });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (gone !== undefined) throw new AgentdError('BACKEND_UNAVAILABLE', `podman service ${gone}: ${stderr.trim().slice(-1000)}`);
      if (await ping(api)) return api;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.stop();
    throw new AgentdError('BACKEND_UNAVAILABLE', `podman service did not answer on ${p.socket} within 30 s: ${stderr.trim().slice(-1000)}`);
  }

  /**
   * Stops the service and waits (up to 10 s) for it to exit, then detaches the mount podman
   * keeps of its own store (`<graph root>/overlay`), so the home can be removed.
   */
  async stopAndWait(): Promise<void> {
    const pid = this.child?.pid ?? this.adopted;
    this.stop();
    if (pid === undefined) return;
    for (let i = 0; i < 200 && (await readFile(`/proc/${pid}/stat`, 'utf8').then((t) => !/^\d+ \(.*\) Z /s.test(t), () => false)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const overlay = join(this.paths.graphRoot, 'overlay');
    const mounted = (await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')).split('\n').some((l) => l.split(' ')[4] === overlay);
    if (mounted) await new Promise<void>((done) => spawn('umount', ['-l', overlay], { stdio: 'ignore' }).once('close', () => done()).once('error', () => done()));
    // The run root is podman's state of running containers, none of which is left: a new service makes it again.
    await rm(this.paths.runRoot, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Stops the service this backend started (its containers keep running under their conmon). */
  stop(): void {
    const child = this.child;
    this.child = undefined;
    this.starting = undefined;
    if (this.adopted !== undefined) {
      try {
        process.kill(this.adopted, 'SIGTERM');
      } catch {
        // already gone
      }
      this.adopted = undefined;
    }
    if (child?.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

/** The pid in the home's pid file, if that process is this home's podman service (its command line names the socket). */
async function adoptablePid(p: PodmanPaths): Promise<number | undefined> {
  const pid = Number((await readFile(p.pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  return cmdline.includes('service') && cmdline.includes(`unix://${p.socket}`) ? pid : undefined;
}

export async function ping(api: PodmanApi): Promise<boolean> {
  try {
    const res = await api.raw('GET', '/_ping', undefined, { timeoutMs: 5000 });
    return res.status === 200;
  } catch {
    return false;
  }
}
