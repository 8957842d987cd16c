import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/channel/lifecycle.js';
import { AgentdError } from '../../src/core/errors.js';
import { createBuiltinRegistry } from '../../src/isolation/builtins.js';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import { HostDirectBackend } from '../../src/isolation/host-direct/backend.js';
import type { SandboxHandle, SandboxSpec } from '../../src/isolation/types.js';
import { requireInitPath } from '../../src/native-paths.js';
import { silentLogger } from '../../src/util/logger.js';

const isRoot = process.getuid?.() === 0;
let home: string;
let counter = 0;
const backend = new HostDirectBackend(requireInitPath(), silentLogger);

function spec(over: Partial<SandboxSpec> = {}): SandboxSpec {
  const id = `hd-test-${process.pid}-${++counter}`;
  return {
    id, profile: 'workstation', dirs: sandboxDirs(home, id), env: {}, network: 'host', limits: {},
    allowedPathsRo: [], allowedPathsRw: [], bindMounts: [], denyPaths: [], labels: {}, ...over,
  };
}

async function withSandbox<T>(s: SandboxSpec, fn: (sbx: SandboxHandle) => Promise<T>): Promise<T> {
  const sbx = await backend.start(s);
  try {
    return await fn(sbx);
  } finally {
    await sbx.destroy();
  }
}

const sh = (sbx: SandboxHandle, script: string, extraEnv: Record<string, string> = {}) =>
  runCommand(sbx.channel, { argv: ['/bin/sh', '-c', script], env: { ...sbx.baseEnv, ...extraEnv } }, { timeoutMs: 20_000 });

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'agentd-hd-'));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('host-direct backend', () => {
  test('runs commands in the workspace with a scrubbed environment', async () => {
    process.env.AGENTD_TEST_SECRET = 'daemon-secret-value';
    try {
      await withSandbox(spec({ env: { GREETING: 'hi' } }), async (sbx) => {
        const r = await sh(sbx, 'pwd; echo "$GREETING"; env; cat /proc/$$/environ | tr "\\0" "\\n"');
        const out = r.stdout.toString();
        expect(r.exitCode).toBe(0);
        expect(out.split('\n')[0]).toBe(sbx.spec.dirs.workspace);
        expect(out.split('\n')[1]).toBe('hi');
        expect(out).not.toContain('daemon-secret-value');
        expect(out).toContain(`HOME=${sbx.spec.dirs.home}`);
      });
    } finally {
      delete process.env.AGENTD_TEST_SECRET;
    }
  });

  test('file operations stay inside the workspace: absolute paths, .. and symlinks resolve under it', async () => {
    await withSandbox(spec(), async (sbx) => {
      const outside = join(home, 'outside-secret');
      await writeFile(outside, 'host file');
      await symlink(outside, join(sbx.spec.dirs.workspace, 'link-out'));
      await symlink('/etc/hostname', join(sbx.spec.dirs.workspace, 'abs-link'));
      await sbx.channel.fs.write('/notes.txt', 'in the workspace');
      expect((await stat(join(sbx.spec.dirs.workspace, 'notes.txt'))).isFile()).toBe(true);
      for (const p of ['/etc/hostname', '../../outside-secret', 'link-out', 'abs-link']) {
        const err = await sbx.channel.fs.read(p).then(() => undefined, (e: unknown) => e);
        expect(err, p).toBeInstanceOf(AgentdError);
        expect((err as AgentdError).details.errno, p).toBe('ENOENT');
      }
    });
  });

  test('refuses a network mode it cannot enforce', async () => {
    const err = await backend.start(spec({ network: 'none' })).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('ISOLATION_REQUIRED');
    expect((err as AgentdError).message).toContain("backend 'host-direct'");
  });

  test('destroy kills background processes and removes the folders', async () => {
    const s = spec();
    const sbx = await backend.start(s);
    const r = await sh(sbx, 'sleep 300 >/dev/null 2>&1 & echo $!');
    const pid = Number(r.stdout.toString().trim());
    expect(() => process.kill(pid, 0)).not.toThrow();
    await sbx.destroy();
    expect(sbx.isAlive()).toBe(false);
    // The sleeper was reparented to the init (subreaper) and killed with it; give the kernel a moment to reap it.
    for (let i = 0; i < 50 && isRunning(pid); i++) await new Promise((res) => setTimeout(res, 20));
    expect(isRunning(pid)).toBe(false);
    await expect(readdir(s.dirs.root)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  describe.skipIf(!isRoot)('with cgroups (root only: cgroups need root here)', () => {
    test('enforces a pids limit through the cgroup', async () => {
      await withSandbox(spec({ limits: { pids: 8 } }), async (sbx) => {
        const r = await sh(sbx, 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done 2>&1; wait; echo done');
        expect(r.stdout.toString() + r.stderr.toString()).toMatch(/fork|Resource temporarily unavailable|Cannot fork/i);
      });
    });
  });
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); count it as gone.
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

describe('profile guard with the real probes', () => {
  test('server refuses host-direct, naming the profile and the backend', async () => {
    const registry = createBuiltinRegistry();
    const probe = await backend.probe();
    expect(() => registry.assertProfileAllows('server', 'host-direct', probe)).toThrow(/profile 'server' requires kernel isolation, but backend 'host-direct' provides none/);
  });
});
