import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliBuilt, runCli } from './cli.js';

let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  if (!cliBuilt()) throw new Error('the CLI is not built: run `npm run build` (npm test does it first)');
  home = await mkdtemp(join(tmpdir(), 'agentd-cli-'));
  // Namespace sandboxes run as an unprivileged host uid that must traverse AGENTD_HOME.
  await chmod(home, 0o711);
  env = { AGENTD_HOME: home, AGENTD_CONFIG: '' };
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('agentd run', () => {
  for (const backend of ['namespace', 'host-direct']) {
    test(`${backend}: streams stdout and stderr exactly and exits with the command's code`, async () => {
      // host-direct cannot restrict the network: it needs `host` from the config (the default is none).
      const r = await runCli(['run', '--backend', backend, '--', 'sh', '-c', 'printf "out\\n"; printf "err\\n" >&2; exit 7'], backend === 'host-direct' ? { ...env, AGENTD_NETWORK: 'host' } : env);
      expect(r.stdout).toBe('out\n');
      expect(r.stderr.split('\n').filter((l) => !l.startsWith('agentd warning:')).join('\n')).toBe('err\n');
      expect(r.code).toBe(7);
    });
  }

  test('namespace: runs as user agent in /workspace, with --env and without the caller\'s environment', async () => {
    const r = await runCli(['run', '--backend', 'bwrap', '--env', 'A=1', '--env', 'B=two words', '--', 'sh', '-c', 'id -un; pwd; echo "$A/$B"; env | grep -c CLI_SECRET || true'], { ...env, CLI_SECRET: 'x' });
    expect(r.stdout).toBe('agent\n/workspace\n1/two words\n0\n');
    expect(r.code).toBe(0);
  });

  test('a signal death exits 128+N', async () => {
    const r = await runCli(['run', '--', 'sh', '-c', 'kill -TERM $$'], env);
    expect(r.code).toBe(128 + 15);
  });

  test('--timeout kills the whole tree and exits 124', async () => {
    const r = await runCli(['run', '--timeout', '1', '--', 'sh', '-c', 'sleep 60 & sleep 60; wait'], env);
    expect(r.code).toBe(124);
    expect(r.stderr).toContain('within --timeout 1s');
    expect(r.ms).toBeLessThan(20_000);
  });

  test('leaves no sandbox folder behind, and --keep keeps it', async () => {
    await runCli(['run', '--', 'true'], env);
    const before = await readdir(join(home, 'run', 'sandboxes')).catch(() => []);
    expect(before).toEqual([]);
    const kept = await runCli(['run', '--keep', '--', 'sh', '-c', 'echo data > /workspace/f'], env);
    expect(kept.stderr).toMatch(/kept the sandbox's files in (\S+)/);
    expect(await readdir(join(home, 'run', 'sandboxes'))).toHaveLength(1);
  });

  test('an unknown backend fails with exit 125 and lists the known ones', async () => {
    const r = await runCli(['run', '--backend', 'nope', '--', 'true'], env);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/error: (INVALID_CONFIG|UNKNOWN_BACKEND)|isolation.backend/);
  });

  test('profile server refuses host-direct, naming both', async () => {
    const r = await runCli(['run', '--profile', 'server', '--backend', 'host-direct', '--', 'true'], env);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("profile 'server' requires kernel isolation, but backend 'host-direct' provides none");
  });

  test('a missing program is an error from the sandbox, not a crash, and exits 127 (as in exec)', async () => {
    const r = await runCli(['run', '--', 'definitely-not-a-program'], env);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/EXEC_FAILED.*ENOENT|ENOENT.*definitely-not-a-program/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('agentd help', () => {
  test('the program help still lists the client commands, loaded only when no local command is named', async () => {
    const r = await runCli(['--help'], env);
    expect(r.code).toBe(0);
    for (const name of ['serve', 'run', 'doctor', 'config', 'sandbox', 'exec', 'cp', 'audit', 'keys']) expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    const client = await runCli(['sandbox', '--help'], env);
    expect(client.code).toBe(0);
    expect(client.stdout).toMatch(/^Usage: agentd sandbox/m);
  });

  test('agentd run --help names --no-probe-cache', async () => {
    const r = await runCli(['run', '--help'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--no-probe-cache');
  });
});

describe('agentd config check', () => {
  test('lists every problem as path: message and exits 1', async () => {
    const file = join(home, 'bad.toml');
    await writeFile(file, 'profile = "paranoid"\n[pool]\nmin_warm = 5\nmax_warm = 2\n[sandbox]\nnetwork = "host"\nbogus = 1\n');
    const r = await runCli(['config', 'check', file], env);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(l).toMatch(/^[\w.[\]:/-]+: .+/);
    expect(r.stdout).toMatch(/pool\.min_warm: /);
    expect(r.stdout).toMatch(/sandbox\.network: /);
    expect(r.stdout).toMatch(/^sandbox\.bogus: unknown key/m);
  });

  test('a good file passes', async () => {
    const file = join(home, 'good.toml');
    await writeFile(file, 'profile = "server"\n[isolation]\nbackend = "bwrap"\n');
    const r = await runCli(['config', 'check', file], env);
    expect(r.stdout).toMatch(/^config OK: profile server, backend bwrap/);
    expect(r.code).toBe(0);
  });
});

describe('agentd doctor', () => {
  test('--json reports every backend with a reason for each one that cannot run', async () => {
    const r = await runCli(['doctor', '--json'], env);
    const report = JSON.parse(r.stdout) as { backends: Array<{ backend: string; available: boolean; reason?: string }>; best: string };
    const names = report.backends.map((b) => b.backend);
    expect(names).toEqual(expect.arrayContaining(['namespace', 'host-direct', 'oci', 'gvisor', 'firecracker']));
    for (const b of report.backends) if (!b.available) expect(b.reason, b.backend).toBeTruthy();
    expect(report.backends.find((b) => b.backend === 'namespace')?.available).toBe(true);
    expect(report.best).toBe('namespace');
  });
});
