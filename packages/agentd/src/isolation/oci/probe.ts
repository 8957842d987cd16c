/**
 * The runtime's test run: agentd-init `--seccomp-file F --version` as a container with the
 * sandboxes' namespaces (user namespace where the runtime has one), the host's system folders
 * read-only and the filter loaded, in a throw-away bundle and state folder. A feature the
 * probe reports is one this run exercised.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnInit } from '../../channel/spawn.js';
import type { HostIds } from '../host-ids.js';
import { measureSystemEntries } from '../namespace/host-layout.js';
import { SANDBOX_SECCOMP_PATH } from './bundle.js';
import { deleteContainer, runArgv, RUNTIME_PATH, type OciRuntime } from './runtime.js';

export interface RuntimeProbeInput {
  initPath: string;
  seccompPath: string;
  /** The host ids the test container runs as (the uid range's last one, kept for probes). */
  probeIds: HostIds;
  /** Map uid 0 inside to probeIds in a user namespace (runc, crun); false: run as probeIds (runsc). */
  userns: boolean;
  cgroupParent: string;
  /** Extra agentd-init flags for the test run (`--no-shepherd-subreaper`). */
  initFlags?: string[];
  /** How long the test run may take (default 20 s): a platform that hangs (runsc kvm under nested virtualisation) fails fast. */
  timeoutMs?: number;
}

/** What the probe says when the runtime's kernel refuses a shepherd PR_SET_CHILD_SUBREAPER (gVisor's 2022 kernel allows it at PID 1 only). */
export const SUBREAPER_REFUSED = 'agentd-init cannot start a command with subreaper shepherds under this gVisor (EINVAL: its kernel refuses prctl PR_SET_CHILD_SUBREAPER to every process but PID 1)';

export async function probeRuntime(rt: OciRuntime, inp: RuntimeProbeInput): Promise<{ version?: string; problem?: string; subreaperRefused?: boolean }> {
  const dir = await mkdtemp(join(tmpdir(), 'agentd-oci-probe-'));
  const id = `agentd-probe-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await chmod(dir, 0o711);
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs, { mode: 0o755 });
    const system = await measureSystemEntries();
    const mounts: Array<Record<string, unknown>> = [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] },
    ];
    for (const e of system) {
      if (e.kind === 'dir') {
        await mkdir(join(rootfs, e.path));
        mounts.push({ destination: e.path, type: 'bind', source: e.path, options: ['rbind', 'ro', 'nosuid', 'nodev'] });
      } else {
        await symlink(e.target, join(rootfs, e.path));
      }
    }
    for (const d of ['proc', 'dev', '.agentd']) await mkdir(join(rootfs, d), { recursive: true });
    for (const f of ['.agentd/init', SANDBOX_SECCOMP_PATH.slice(1)]) await (await open(join(rootfs, f), 'wx', 0o644)).close();
    mounts.push({ destination: '/.agentd/init', type: 'bind', source: inp.initPath, options: ['bind', 'ro', 'nosuid', 'nodev'] });
    mounts.push({ destination: SANDBOX_SECCOMP_PATH, type: 'bind', source: inp.seccompPath, options: ['bind', 'ro', 'nosuid', 'nodev'] });
    const namespaces: Array<{ type: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }, { type: 'cgroup' }];
    const linux: Record<string, unknown> = { namespaces, cgroupsPath: `/${inp.cgroupParent}/${id}`, rootfsPropagation: 'rprivate' };
    if (inp.userns) {
      namespaces.push({ type: 'user' });
      linux.uidMappings = [{ containerID: 0, hostID: inp.probeIds.uid, size: 1 }];
      linux.gidMappings = [{ containerID: 0, hostID: inp.probeIds.gid, size: 1 }];
    }
    const config = {
      ociVersion: '1.0.2',
      process: {
        terminal: false,
        user: inp.userns ? { uid: 0, gid: 0 } : { uid: inp.probeIds.uid, gid: inp.probeIds.gid },
        args: ['/.agentd/init', '--seccomp-file', SANDBOX_SECCOMP_PATH, '--fs-root', '/', ...(inp.initFlags ?? [])],
        env: ['PATH=/usr/bin:/bin'],
        cwd: '/',
        noNewPrivileges: true,
        capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      },
      root: { path: rootfs, readonly: true },
      hostname: 'agentd-probe',
      mounts,
      linux,
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const runtime = { ...rt, root: join(dir, 'state') };
    // The init in its normal mode, and one command through the channel: what a sandbox does
    // (its shepherd asks for PR_SET_CHILD_SUBREAPER, which gVisor's 2022 kernel refuses to all but PID 1: the backend then retries with initFlags --no-shepherd-subreaper).
    let started: Awaited<ReturnType<typeof spawnInit>> | undefined;
    try {
      started = await spawnInit(runArgv(runtime, dir, id), { cwd: '/', env: { PATH: RUNTIME_PATH }, readyTimeoutMs: inp.timeoutMs ?? 20_000 });
      const run = started.channel.exec({ argv: ['/bin/true'], env: { PATH: '/usr/bin:/bin' }, cwd: '/' });
      void (async () => {
        for await (const _ of run.output()) void _;
      })().catch(() => undefined);
      await run.started;
      const exit = await run.exited;
      if (exit.exitCode !== 0) return { problem: `a test command exited with ${String(exit.exitCode)}` };
    } catch (err) {
      const msg = (err as Error).message;
      const fatal = /FATAL ERROR: ([^\n]*)/.exec(msg)?.[1];
      if (fatal !== undefined) return { problem: fatal.slice(0, 300) };
      if (rt.kind === 'runsc' && /cannot execute .*EINVAL/.test(msg)) {
        return { problem: SUBREAPER_REFUSED, subreaperRefused: true };
      }
      return { problem: `test run failed: ${(msg.split('\n')[0] ?? '').slice(0, 300)}` };
    } finally {
      if (started !== undefined) {
        await Promise.race([started.channel.shutdown().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
        await Promise.race([new Promise((r) => started?.child.once('exit', r)), new Promise((r) => setTimeout(r, 3000))]);
        if (started.child.exitCode === null) started.child.kill('SIGKILL');
      }
      // What a failed or killed run left (runsc's sandbox and gofer processes): removed with the throw-away state folder.
      await deleteContainer(runtime, id).catch(() => undefined);
    }
    const version = await new Promise<string>((resolve) => {
      const child = spawn(rt.path, ['--version'], { env: { PATH: RUNTIME_PATH }, stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.once('error', () => resolve('unknown version'));
      child.once('close', () => resolve(out.split('\n')[0]?.trim() ?? 'unknown version'));
    });
    return { version };
  } catch (err) {
    return { problem: (err as Error).message };
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
