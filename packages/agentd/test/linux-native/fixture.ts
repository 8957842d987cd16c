/**
 * Shared fixture of the linux-native tests: a real LinuxNativeBackend (real Landlock, real
 * seccomp, real cgroups, real agentd-init), sandboxes under a temporary AGENTD_HOME that are
 * always destroyed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type CommandResult } from '../../src/channel/lifecycle.js';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import { NO_HOST_PATHS, type HostPathRules } from '../../src/isolation/host-paths.js';
import { LinuxNativeBackend, MIN_LANDLOCK_ABI, seccompFilters } from '../../src/isolation/linux-native/backend.js';
import type { SandboxHandle, SandboxSpec } from '../../src/isolation/types.js';
import { nativePaths } from '../../src/native-paths.js';
import { silentLogger } from '../../src/util/logger.js';

export const native = nativePaths();

function landlockAbi(): number {
  try {
    return Number(execFileSync(native.init, ['--landlock-abi'], { encoding: 'utf8' }).trim());
  } catch {
    return 0;
  }
}

export const isRoot = process.getuid?.() === 0;

/** Why the suite cannot run here, or undefined when it can. */
export const skipReason: string | undefined = process.platform !== 'linux'
  ? 'Landlock is Linux-only'
  : !existsSync(native.init)
    ? `agentd-init not built at ${native.init} (run: make -C packages/agentd/native)`
    : !existsSync(seccompFilters().noSockets)
      ? `seccomp filters not built (${seccompFilters().noSockets}; run: make -C packages/agentd/native)`
      : landlockAbi() < MIN_LANDLOCK_ABI
        ? `the kernel's Landlock ABI is ${landlockAbi()}, below ${MIN_LANDLOCK_ABI}`
        : !isRoot
          ? 'these tests need a root daemon (own host uid per sandbox, cgroups)'
          : undefined;

export function noteSkip(what: string, reason: string | undefined): boolean {
  if (reason !== undefined) console.warn(`[linux-native tests] skipping ${what}: ${reason}`);
  return reason !== undefined;
}

export function specFor(home: string, id: string, over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id,
    profile: 'workstation',
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

export interface Harness {
  home: string;
  backend: LinuxNativeBackend;
  start(over?: Partial<SandboxSpec>, rules?: HostPathRules): Promise<SandboxHandle>;
  close(): Promise<void>;
}

export async function harness(options: Record<string, unknown> = {}): Promise<Harness> {
  const home = await mkdtemp(join(tmpdir(), 'agentd-ll-'));
  await chmod(home, 0o711);
  const backend = new LinuxNativeBackend(native.init, silentLogger, options);
  await backend.prepareHome(join(home, 'sandboxes'));
  const started: SandboxHandle[] = [];
  return {
    home,
    backend,
    async start(over = {}, rules) {
      const hostPaths = rules ?? { ...NO_HOST_PATHS, roots: [tmpdir()], protectedPaths: [home] };
      const sbx = await backend.start(specFor(home, over.id ?? `ll-${randomBytes(5).toString('hex')}`, over), { hostPaths });
      started.push(sbx);
      return sbx;
    },
    async close() {
      const errors: unknown[] = [];
      for (const s of started) await s.destroy().catch((e: unknown) => errors.push(e));
      // Spare disk volumes made by prepareHome are unmounted and removed.
      await backend.close().catch((e: unknown) => errors.push(e));
      await rm(home, { recursive: true, force: true });
      if (errors.length > 0) throw errors[0];
    },
  };
}

export function run(sbx: SandboxHandle, argv: string[], opts: { cwd?: string; stdin?: string } = {}): Promise<CommandResult> {
  return runCommand(sbx.channel, { argv, env: { ...sbx.baseEnv }, ...(opts.cwd ? { cwd: opts.cwd } : {}) }, { timeoutMs: 20_000, ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}) });
}

export async function sh(sbx: SandboxHandle, script: string): Promise<{ out: string; err: string; code: number | null }> {
  const r = await run(sbx, ['/bin/sh', '-c', script]);
  return { out: r.stdout.toString().trim(), err: r.stderr.toString().trim(), code: r.exitCode };
}

/** Runs a Python snippet in the sandbox; its stdout, trimmed. Python reports errno names exactly. */
export async function py(sbx: SandboxHandle, code: string): Promise<string> {
  const r = await run(sbx, ['/usr/bin/python3', '-c', code]);
  if (r.exitCode !== 0) throw new Error(`python exited ${String(r.exitCode)}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

/** A Python helper printing "ok" or the errno name of an OSError raised by `expr`. */
export function attemptPy(body: string): string {
  return `import errno, os, socket, signal, ctypes\ntry:\n${body.split('\n').map((l) => `    ${l}`).join('\n')}\n    print("ok")\nexcept OSError as e:\n    print(errno.errorcode.get(e.errno, str(e.errno)))`;
}
