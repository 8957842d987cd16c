/**
 * Shared fixture of the namespace attack suite: a real NamespaceBackend (real bwrap, real
 * cgroups, real agentd-init), sandboxes under a temporary AGENTD_HOME that are always
 * destroyed, and the `attack` helper (fixtures/attack.c) built static once per run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand, type CommandResult } from '../../src/channel/lifecycle.js';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import { NO_HOST_PATHS, type HostPathRules } from '../../src/isolation/host-paths.js';
import { NamespaceBackend } from '../../src/isolation/namespace/backend.js';
import type { SandboxHandle, SandboxSpec } from '../../src/isolation/types.js';
import { nativePaths } from '../../src/native-paths.js';
import { silentLogger } from '../../src/util/logger.js';

export const native = nativePaths();

function hasBwrap(): boolean {
  return spawnSync('bwrap', ['--version']).status === 0;
}

/** Why the suite cannot run here, or undefined when it can. Printed by every skipped describe. */
export const skipReason: string | undefined = !existsSync(native.init)
  ? `agentd-init not built at ${native.init} (run: make -C packages/agentd/native)`
  : !existsSync(native.seccompBpf)
    ? `seccomp filter not built at ${native.seccompBpf} (run: make -C packages/agentd/native)`
    : !hasBwrap()
      ? 'bwrap is not installed (apt-get install bubblewrap)'
      : process.platform !== 'linux'
        ? 'the namespace backend is Linux-only'
        : undefined;

export const isRoot = process.getuid?.() === 0;

/** Prints why a describe block is skipped (vitest only shows "skipped"). */
export function noteSkip(what: string, reason: string | undefined): boolean {
  if (reason !== undefined) console.warn(`[namespace tests] skipping ${what}: ${reason}`);
  return reason !== undefined;
}

const ATTACK_SRC = fileURLToPath(new URL('./fixtures/attack.c', import.meta.url));

/** Builds fixtures/attack.c statically (cached by content hash) and returns its path. */
export function attackBinary(): string {
  const src = readFileSync(ATTACK_SRC);
  const out = join(tmpdir(), `agentd-attack-${createHash('sha256').update(src).digest('hex').slice(0, 12)}`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}`;
    execFileSync('gcc', ['-O1', '-static', '-Wall', '-Werror', '-o', tmp, ATTACK_SRC]);
    execFileSync('mv', [tmp, out]);
  }
  return out;
}

export interface Harness {
  home: string;
  backend: NamespaceBackend;
  /**
   * Starts a sandbox. Host paths are allowed under the system's temporary folder (never the
   * harness's home), as an operator would list `sandbox.host_path_roots`; `rules` replaces that.
   */
  start(over?: Partial<SandboxSpec>, rules?: HostPathRules): Promise<SandboxHandle>;
  /** Destroys every sandbox started and removes the home. */
  close(): Promise<void>;
}

export function specFor(home: string, id: string, over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id,
    profile: 'server',
    dirs: sandboxDirs(home, id),
    env: {},
    network: 'none',
    limits: {},
    allowedPathsRo: [],
    allowedPathsRw: [],
    bindMounts: [],
    denyPaths: [],
    labels: {},
    ...over,
  };
}

export async function harness(options: Record<string, unknown> = {}): Promise<Harness> {
  const home = await mkdtemp(join(tmpdir(), 'agentd-ns-'));
  // The sandboxes' host uid (when root) must be able to reach the sandbox folders.
  await chmod(home, 0o711);
  const backend = new NamespaceBackend(native.init, silentLogger, options);
  const started: SandboxHandle[] = [];
  return {
    home,
    backend,
    async start(over = {}, rules) {
      const hostPaths = rules ?? { ...NO_HOST_PATHS, roots: [tmpdir()], protectedPaths: [home] };
      const sbx = await backend.start(specFor(home, over.id ?? `t-${randomBytes(5).toString('hex')}`, over), { hostPaths });
      started.push(sbx);
      return sbx;
    },
    async close() {
      const errors: unknown[] = [];
      for (const s of started) await s.destroy().catch((e: unknown) => errors.push(e));
      await rm(home, { recursive: true, force: true });
      if (errors.length > 0) throw errors[0];
    },
  };
}

/** Runs argv in the sandbox with a plain environment; the result whatever the exit code. */
export function run(sbx: SandboxHandle, argv: string[], opts: { cwd?: string; timeoutMs?: number; stdin?: string } = {}): Promise<CommandResult> {
  return runCommand(
    sbx.channel,
    { argv, env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/home/agent', ...(sbx.spec.env ?? {}) }, ...(opts.cwd ? { cwd: opts.cwd } : {}) },
    { timeoutMs: opts.timeoutMs ?? 20_000, ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}) },
  );
}

/** stdout as trimmed text. */
export async function sh(sbx: SandboxHandle, script: string): Promise<{ out: string; err: string; code: number | null; signal: NodeJS.Signals | null }> {
  const r = await run(sbx, ['/bin/sh', '-c', script]);
  return { out: r.stdout.toString().trim(), err: r.stderr.toString().trim(), code: r.exitCode, signal: r.signal };
}

/** Copies the attack helper into the sandbox's workspace (host side) and returns its path inside. */
export async function plantAttack(sbx: SandboxHandle): Promise<string> {
  const dest = join(sbx.spec.dirs.workspace, 'attack');
  await copyFile(attackBinary(), dest);
  await chmod(dest, 0o755);
  return '/workspace/attack';
}

/** Runs one attempt of the attack helper; its one-line verdict ("ok", "EPERM", ...). */
export async function attempt(sbx: SandboxHandle, ...args: string[]): Promise<string> {
  const r = await run(sbx, ['/workspace/attack', ...args]);
  if (r.exitCode !== 0) throw new Error(`attack ${args.join(' ')} exited ${r.exitCode ?? r.signal}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}
