/**
 * Shared fixture of the podman backend tests: a real PodmanBackend (its own podman service
 * under a temporary AGENTD_HOME, real runc, real cgroups, real agentd-init).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, type CommandResult } from '../../src/channel/lifecycle.js';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import { PodmanBackend } from '../../src/isolation/podman/index.js';
import type { SandboxHandle, SandboxSpec } from '../../src/isolation/types.js';
import { nativePaths } from '../../src/native-paths.js';
import { silentLogger } from '../../src/util/logger.js';

export const native = nativePaths();

/** Why the podman tests cannot run here, or undefined. Printed by every skipped describe. */
export const skipReason: string | undefined = !existsSync(native.init)
  ? `agentd-init not built at ${native.init} (npm run build:native)`
  : process.getuid?.() !== 0
    ? 'the podman backend needs a root daemon'
    : spawnSync('podman', ['--version']).status !== 0
      ? 'podman is not installed (apt-get install podman)'
      : undefined;

export function noteSkip(what: string): boolean {
  if (skipReason !== undefined) console.warn(`[podman tests] skipping ${what}: ${skipReason}`);
  return skipReason !== undefined;
}

export function specFor(home: string, id: string, over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id, profile: 'server', dirs: sandboxDirs(home, id), env: {}, network: 'none', limits: {},
    allowedPathsRo: [], allowedPathsRw: [], bindMounts: [], denyPaths: [], labels: {}, ...over,
  };
}

export interface Harness {
  home: string;
  backend: PodmanBackend;
  start(over?: Partial<SandboxSpec>): Promise<SandboxHandle>;
  close(): Promise<void>;
}

/** A home under /var/tmp (podman's overlay store wants a real file system, not a tmpfs). */
export async function harness(home?: string): Promise<Harness> {
  const dir = home ?? (await mkdtemp(join('/var/tmp', 'agentd-podman-')));
  await chmod(dir, 0o711);
  const backend = new PodmanBackend(native.init, silentLogger, {});
  const started: SandboxHandle[] = [];
  return {
    home: dir,
    backend,
    async start(over = {}) {
      const sbx = await backend.start(specFor(dir, over.id ?? `t-${randomBytes(5).toString('hex')}`, over));
      started.push(sbx);
      return sbx;
    },
    async close() {
      for (const s of started) await s.destroy().catch(() => undefined);
      await backend.close();
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

export function run(sbx: SandboxHandle, argv: string[], opts: { timeoutMs?: number; stdin?: string; env?: Record<string, string> } = {}): Promise<CommandResult> {
  return runCommand(
    sbx.channel,
    { argv, env: { ...sbx.baseEnv, ...(opts.env ?? {}) } },
    { timeoutMs: opts.timeoutMs ?? 20_000, ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}) },
  );
}

export function sh(sbx: SandboxHandle, script: string, opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CommandResult> {
  return run(sbx, ['/bin/sh', '-c', script], opts);
}
