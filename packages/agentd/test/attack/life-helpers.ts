import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon, type Daemon, type StartDaemonOptions } from '../../src/runtime/daemon.js';
import { configToml } from '../daemon/child.js';
import { rawCall, type Answer, type CallOptions } from '../daemon/harness.js';

/** A daemon on a home the test keeps across restarts (the harness's close() removes its home). */
export interface HomeDaemon {
  daemon: Daemon;
  call(method: string, path: string, opts?: CallOptions): Promise<Answer>;
  /** Stops the daemon, keeps the home. */
  stop(): Promise<void>;
}

export async function newHome(prefix: string): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), prefix));
  await chmod(home, 0o711);
  return home;
}

/** A home (0711) with an `agentd.toml` for a daemon child process: namespace backend, its own cgroup parent, a free port, the socket in the home. */
export async function childHome(prefix: string, cgroupParent: string): Promise<{ home: string; file: string }> {
  const home = await newHome(prefix);
  const file = join(home, 'agentd.toml');
  await writeFile(file, configToml(home, cgroupParent));
  return { home, file };
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && prev !== null && typeof prev === 'object' && !Array.isArray(prev)
      ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

/** Starts a real daemon (namespace backend, its own cgroup parent) on `home`, config values over the workstation preset. */
export async function startOnHome(home: string, cgroupParent: string, overrides: Record<string, unknown> = {}, opts: StartDaemonOptions = {}): Promise<HomeDaemon> {
  const socket = join(home, 'agentd.sock');
  const base = {
    home,
    isolation: { backend: 'namespace', backends: { namespace: { cgroup_parent: cgroupParent } } },
    adapters: { http: { listen: '127.0.0.1:0' }, unix: { path: socket, mode: '0660' } },
  };
  const config = parseConfig(merge(base, overrides), {}, {});
  const daemon = await startDaemon(config, { sweepIntervalMs: 100, stopGraceMs: 500, ...opts });
  return {
    daemon,
    call: (method, path, opts = {}) => rawCall({ socket }, method, path, opts),
    stop: () => daemon.close(),
  };
}
