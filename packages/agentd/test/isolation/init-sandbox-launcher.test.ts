/**
 * InitSandbox with a launcher that is not a local child process (a VM's vsock, a runtime's
 * exec stream): the handle needs only how to kill it and how to know the init exited, plus
 * what to undo at destroy; and the positional form (a ChildProcess) still works.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Channel } from '../../src/channel/types.js';
import { InitSandbox, type ExitStatus, type InitGroup, type InitLauncher } from '../../src/isolation/init-sandbox.js';
import type { SandboxDirs, SandboxSpec } from '../../src/isolation/types.js';
import { silentLogger } from '../../src/util/logger.js';

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'agentd-launcher-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

function specIn(root: string): SandboxSpec {
  const dirs: SandboxDirs = { root, workspace: join(root, 'workspace'), home: join(root, 'home'), tmp: join(root, 'tmp') };
  return { id: 'sbx_launcher', profile: 'workstation', dirs, env: {}, network: 'none', limits: {}, allowedPathsRo: [], allowedPathsRw: [], bindMounts: [], denyPaths: [], labels: {} };
}

/** A launcher standing for a remote init: it "exits" when killed, or when `exit()` is called (the init obeyed SHUTDOWN). */
function remoteLauncher(log: string[]): InitLauncher & { exit(): void } {
  let done: (s: ExitStatus) => void = () => undefined;
  const exited = new Promise<ExitStatus>((r) => (done = r));
  return {
    exited,
    kill() {
      log.push('kill');
      done({ code: null, signal: 'SIGKILL' });
    },
    exit() {
      done({ code: 0, signal: null });
    },
  };
}

/** A channel whose SHUTDOWN either makes the launcher exit (an obedient init) or is lost (a stuck one). */
function channel(log: string[], onShutdown: () => void): Channel {
  let closed = false;
  return {
    ready: Promise.resolve({}),
    closed: new Promise(() => undefined),
    get isClosed() {
      return closed;
    },
    shutdown: async () => {
      log.push('shutdown');
      onShutdown();
      closed = true;
    },
  } as unknown as Channel;
}

describe('InitSandbox options form: launcher, group, teardown, removeFiles', () => {
  test('a stuck init: SHUTDOWN, then the launcher is killed after the grace, then teardown, then the files go the backend\'s way', async () => {
    const log: string[] = [];
    const launcher = remoteLauncher(log);
    const spec = specIn(join(base, 'a'));
    const sb = new InitSandbox({
      backend: 'remote', spec, baseEnv: {}, channel: channel(log, () => undefined), launcher, logger: silentLogger,
      teardown: async () => void log.push('teardown'),
      removeFiles: async (dirs) => void log.push(`removeFiles ${dirs.root}`),
    });
    expect(sb.isAlive()).toBe(true);
    await sb.destroy();
    expect(log).toEqual(['shutdown', 'kill', 'teardown', `removeFiles ${spec.dirs.root}`]);
    expect(sb.isAlive()).toBe(false);
    expect(await sb.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  test('an init that obeys SHUTDOWN is never killed; keepFiles keeps the files but still tears down', async () => {
    const log: string[] = [];
    const launcher = remoteLauncher(log);
    const sb = new InitSandbox({
      backend: 'remote', spec: specIn(join(base, 'b')), baseEnv: {}, channel: channel(log, () => launcher.exit()), launcher, logger: silentLogger,
      teardown: async () => void log.push('teardown'),
      removeFiles: async () => void log.push('removeFiles'),
    });
    await sb.destroy({ keepFiles: true });
    expect(log).toEqual(['shutdown', 'teardown']);
    expect(await sb.exited).toEqual({ code: 0, signal: null });
  });

  test('suspend and resume use the given group (a runtime\'s pause); without one they are LIMIT_UNSUPPORTED', async () => {
    const log: string[] = [];
    const group: InitGroup = {
      canFreeze: true,
      freeze: async () => void log.push('freeze'),
      thaw: async () => void log.push('thaw'),
      killAll: async () => void log.push('killAll'),
      remove: async () => void log.push('remove'),
      usage: async () => ({ memoryBytes: 42 }),
    };
    const launcher = remoteLauncher(log);
    const sb = new InitSandbox({ backend: 'remote', spec: specIn(join(base, 'c')), baseEnv: {}, channel: channel(log, () => launcher.exit()), launcher, group, logger: silentLogger, removeFiles: async () => undefined });
    await sb.suspend();
    expect(sb.suspended).toBe(true);
    await sb.resume();
    expect((await sb.usage()).memoryBytes).toBe(42);
    await sb.destroy();
    expect(log).toEqual(['freeze', 'thaw', 'shutdown', 'killAll', 'remove']);

    const bare = remoteLauncher([]);
    const none = new InitSandbox({ backend: 'remote', spec: specIn(join(base, 'd')), baseEnv: {}, channel: channel([], () => bare.exit()), launcher: bare, logger: silentLogger, removeFiles: async () => undefined });
    await expect(none.suspend()).rejects.toMatchObject({ code: 'LIMIT_UNSUPPORTED' });
    await none.destroy();
  });
});

describe('InitSandbox positional form (existing backends): a local child process', () => {
  test('destroy kills the child\'s process group when the init does not answer', async () => {
    const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    const log: string[] = [];
    const spec = specIn(join(base, 'e'));
    const sb = new InitSandbox('legacy', spec, {}, channel(log, () => undefined), child, undefined, silentLogger);
    expect(sb.isAlive()).toBe(true);
    await sb.destroy({ keepFiles: true });
    expect(await sb.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(child.signalCode).toBe('SIGKILL');
  });
});
