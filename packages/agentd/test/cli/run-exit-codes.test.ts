/**
 * `agentd run` as a subprocess: the same exit-code table as `agentd exec` (exit-codes.ts),
 * the environment of a command, usage errors in one line, -t reserved for a TTY, and config
 * errors printed once with the flag that set a value named as "(from --flag)".
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliBuilt, runCli } from './cli.js';

let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  if (!cliBuilt()) throw new Error('the CLI is not built: run `npm run build` (npm test does it first)');
  home = await mkdtemp(join(tmpdir(), 'agentd-run-codes-'));
  await chmod(home, 0o711);
  await writeFile(join(home, 'not-exec.sh'), 'echo hi\n', { mode: 0o644 });
  env = { AGENTD_HOME: home, AGENTD_CONFIG: '' };
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('agentd run: exit codes (one scheme with exec)', { timeout: 120_000 }, () => {
  test('the table: own code, 124, 125, 126, 127, 128+N', async () => {
    const table: Array<[string[], number]> = [
      [['run', 'true'], 0],
      [['run', '--', 'sh', '-c', 'exit 3'], 3],
      [['run', '--timeout', '500ms', '--', 'sleep', '30'], 124],
      [['run', '--bogus-flag', '--', 'true'], 125],
      [['run', '--backend', 'nope', '--', 'true'], 125],
      [['run', '--', '/etc/hostname'], 126],
      [['run', '--', 'no-such-command-xyz'], 127],
      [['run', '--', 'sh', '-c', 'kill -TERM $$'], 143],
    ];
    const got: Array<[string, number | null]> = [];
    for (const [args] of table) got.push([args.join(' '), (await runCli(args, env)).code]);
    expect(got).toEqual(table.map(([args, want]) => [args.join(' '), want]));
  });

  test('a command without -- works, its options stay its own', async () => {
    const r = await runCli(['run', 'sh', '-c', 'echo "$0 $1"', 'a', '-v'], env);
    expect([r.code, r.stdout]).toEqual([0, 'a -v\n']);
  });

  test('the documented environment: HOME, USER, LOGNAME, SHELL, LANG, PATH; no TERM without a TTY', async () => {
    const r = await runCli(['run', '--', 'sh', '-c', 'cd ~ && git config --global user.name x && echo "$USER $LOGNAME $SHELL $LANG ${TERM-unset}" && python3 -c "import sys; print(bool(sys.executable))"'], env);
    expect([r.code, r.stdout]).toEqual([0, 'agent agent /bin/sh C.UTF-8 unset\nTrue\n']);
  });

  test('a usage error is one line and a hint (not the whole help)', async () => {
    const r = await runCli(['run', '--bogus-flag', '--', 'true'], env);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/unknown option '--bogus-flag'/), "(run 'agentd run --help' for usage)"]);
  });

  test('-t is a TTY: refused as not supported yet, exit 125', async () => {
    const r = await runCli(['run', '-t', '--', 'true'], env);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/TTY is not supported yet/);
  });

  test('--help shows the exit codes', async () => {
    const r = await runCli(['run', '--help'], env);
    expect(r.stdout).toMatch(/126 +the command cannot be executed/);
    expect(r.stdout).toMatch(/--timeout <duration>/);
  });
});

describe('agentd run: an OOM kill says so', { timeout: 120_000 }, () => {
  test('killed: out of memory (limit N), exit 137; the limit written as a size in the config', async () => {
    const file = join(home, 'small.toml');
    await writeFile(file, '[sandbox.limits]\nmemory_bytes = "64m"\n');
    const r = await runCli(['run', '-c', file, '--', 'python3', '-c', 'b = bytearray(512 * 1024 * 1024); print(len(b))'], env);
    expect(r.code).toBe(137);
    expect(r.stderr).toMatch(/agentd: killed: out of memory \(limit 64\.0 MiB\)/);
  });
});

describe('config errors from run', () => {
  test('printed once, and a flag is named as (from --flag)', async () => {
    const r = await runCli(['run', '--profile', 'nope', '--', 'true'], env);
    expect(r.code).toBe(125);
    expect(r.stderr.match(/profile \(from --profile\)/g)).toHaveLength(1);
    expect(r.stderr).not.toContain('(from overrides)');
  });

  test('serve prints a bad config once too', async () => {
    const bad = join(home, 'serve-bad.toml');
    await writeFile(bad, '[limits]\nmax_exec_timeout_ms = "forever"\n');
    const r = await runCli(['serve', '-c', bad], env);
    expect(r.code).toBe(1);
    expect(r.stderr.match(/limits\.max_exec_timeout_ms/g)).toHaveLength(1);
  });

  test('a _ms key takes a duration and a _bytes key a size; a bad one is one clear problem', async () => {
    const good = join(home, 'units.toml');
    await writeFile(good, '[sandbox]\nidle_timeout_ms = "10m"\n[limits]\nmax_exec_timeout_ms = "2h"\nmax_output_bytes = "32m"\n');
    const ok = await runCli(['config', 'check', '--json', good], env);
    expect(ok.code).toBe(0);
    const c = JSON.parse(ok.stdout) as { sandbox: { idle_timeout_ms: number }; limits: { max_exec_timeout_ms: number; max_output_bytes: number } };
    expect([c.sandbox.idle_timeout_ms, c.limits.max_exec_timeout_ms, c.limits.max_output_bytes]).toEqual([600_000, 7_200_000, 32 * 1024 * 1024]);
    const bad = join(home, 'bad-units.toml');
    await writeFile(bad, '[limits]\nmax_output_bytes = "lots"\n');
    const r = await runCli(['config', 'check', bad], env);
    expect([r.code, r.stdout.trim()]).toEqual([1, "limits.max_output_bytes: expected a size like 64k, 512m, 2g or a number of bytes, got 'lots'"]);
    const run = await runCli(['run', '-c', bad, '--', 'true'], env);
    expect(run.stderr.match(/limits\.max_output_bytes/g)).toHaveLength(1);
  });
});
