/**
 * Issue 10, everyday use: the exec environment on every path (REST exec, intent, SDK, CLI
 * exec; namespace and host-direct), the CLI's exit-code table driven as a subprocess, exec
 * without `--`, usage errors, `--json` in the REST shape, and the messages for cut output,
 * an OOM kill, a timeout by the daemon's cap and a stopped sandbox.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentdClient } from '@agentd/sdk';
import { parseConfig } from '../../src/config/index.js';
import { CgroupDriver } from '../../src/isolation/cgroup/index.js';
import { nativePaths } from '../../src/native-paths.js';
import { startDaemon, type Daemon } from '../../src/runtime/daemon.js';

const mainJs = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const skipReason = !existsSync(nativePaths().init) ? 'agentd-init is not built (make -C packages/agentd/native)' : !existsSync(mainJs) ? `${mainJs} is not built (npm run build)` : undefined;
if (skipReason !== undefined) console.log(`skipping daily-use CLI tests: ${skipReason}`);

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}

function agentd(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainJs, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code }));
  });
}

interface Started {
  daemon: Daemon;
  client: AgentdClient;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

async function start(backend: 'namespace' | 'host-direct', sandbox: Record<string, unknown> = {}, limits: Record<string, unknown> = {}): Promise<Started> {
  const home = mkdtempSync(join(tmpdir(), `agentd-daily-${backend}-`));
  chmodSync(home, 0o711);
  const cgroupParent = `agentd-test-${randomBytes(6).toString('hex')}`;
  const config = parseConfig(
    {
      home,
      profile: 'workstation',
      isolation: { backend, backends: backend === 'namespace' ? { namespace: { cgroup_parent: cgroupParent } } : {} },
      adapters: { http: { enabled: true, listen: '127.0.0.1:0' }, unix: { enabled: true, path: join(home, 'agentd.sock') } },
      auth: { providers: [{ type: 'peer-creds' }, { type: 'api-key' }] },
      limits,
      sandbox: backend === 'host-direct'
        ? { network: 'host', limits: { memory_bytes: 0, cpus: 0, pids: 0, disk_bytes: 0 }, ...sandbox }
        : { limits: { memory_bytes: 0, disk_bytes: 0 }, ...sandbox },
    },
    {},
  );
  const daemon = await startDaemon(config, { sweepIntervalMs: 200 });
  const url = daemon.address ?? '';
  const bootstrap = new AgentdClient({ baseUrl: 'http://localhost', fetch: (await import('@agentd/sdk/node')).unixSocketFetch(join(home, 'agentd.sock')) });
  const key = await bootstrap.createKey({ subject: 'daily', tenant: 'default', roles: ['admin'] });
  const client = new AgentdClient({ baseUrl: url, apiKey: key.secret ?? '' });
  return {
    daemon,
    client,
    env: { AGENTD_URL: url, AGENTD_API_KEY: key.secret ?? '', AGENTD_HOME: home },
    close: async () => {
      for (const s of await client.listSandboxes().catch(() => [])) await client.destroySandbox(s.id).catch(() => undefined);
      await daemon.close();
      await new CgroupDriver({ parent: cgroupParent }).removeParent().catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** What every path must give a command: the documented variables, and what they make work. */
const PROBE = 'printf "%s|%s|%s|%s|%s|%s|%s\\n" "$PATH" "$HOME" "$USER" "$LOGNAME" "$SHELL" "$LANG" "${TERM-unset}"; cd ~ && pwd && git config --global user.name x && git config --global user.name && python3 -c "import sys; print(sys.executable)"';

function checkProbe(stdout: string, who: string): void {
  const [vars = '', home = '', gitName = '', python = ''] = stdout.trim().split('\n');
  const [path = '', homeVar = '', user = '', logname = '', shell = '', lang = '', term = ''] = vars.split('|');
  expect({ who, path: path.includes('/usr/bin'), home: homeVar !== '' && homeVar === home, user: user !== '' && user === logname, shell, lang, term, gitName, python: python !== '' }).toEqual({
    who, path: true, home: true, user: true, shell: '/bin/sh', lang: 'C.UTF-8', term: 'unset', gitName: 'x', python: true,
  });
}

for (const backend of ['namespace', 'host-direct'] as const) {
  describe.skipIf(skipReason !== undefined)(`exec environment on every path (${backend})`, { timeout: 120_000 }, () => {
    let s: Started;
    let id: string;
    beforeAll(async () => {
      s = await start(backend);
      id = (await s.client.createSandbox({ env: { FROM_SANDBOX: 'sbx' } })).id;
    });
    afterAll(async () => s?.close());

    test('SDK exec (REST /exec underneath)', async () => {
      const r = await s.client.exec(id, ['/bin/sh', '-c', PROBE]);
      expect(r.stderr).toBe('');
      checkProbe(r.stdout, 'sdk');
    });

    test('REST exec, with the sandbox env and the caller env on top', async () => {
      const raw = (await s.client.transport.json({ method: 'POST', path: `/v1/sandboxes/${id}/exec`, json: { command: `${PROBE}; echo "$FROM_SANDBOX $FROM_CALLER"`, env: { FROM_CALLER: 'call' } } })) as { stdout: string; exit_code: number };
      expect(raw.exit_code).toBe(0);
      checkProbe(raw.stdout.trim().split('\n').slice(0, 4).join('\n'), 'rest');
      expect(raw.stdout.trim().split('\n').at(-1)).toBe('sbx call');
    });

    test('intent', async () => {
      const answer = (await s.client.intent({ capability: 'shell.exec', version: 'v1', sandbox_prefs: { sandbox_id: id }, params: { command: PROBE } })) as { status: string; result: { stdout: string } };
      expect(answer.status).toBe('ok');
      checkProbe(answer.result.stdout, 'intent');
    });

    test('CLI exec', async () => {
      const r = await agentd(['exec', id, '/bin/sh', '-c', PROBE], s.env);
      expect(r.code).toBe(0);
      checkProbe(r.stdout, 'cli');
    });
  });
}

describe.skipIf(skipReason !== undefined)('agentd exec: exit codes, parsing, messages (CLI as a subprocess)', { timeout: 180_000 }, () => {
  let s: Started;
  let id: string;
  beforeAll(async () => {
    s = await start('namespace');
    id = (await s.client.createSandbox({})).id;
    await s.client.files(id).write('/workspace/not-exec.sh', 'echo hi\n', { mode: 0o644 });
  });
  afterAll(async () => s?.close());
  const run = (...args: string[]): Promise<Run> => agentd(args, s.env);

  test('the exit-code table', async () => {
    const table: Array<[string[], number]> = [
      [['exec', id, 'true'], 0],
      [['exec', id, 'sh', '-c', 'exit 3'], 3],
      [['exec', '--timeout', '1s', id, 'sleep', '30'], 124],
      [['exec', 'sbx_nosuchsandbox', 'true'], 125],
      [['exec', '--no-such-flag', id, 'true'], 125],
      [['exec', id, '/workspace/not-exec.sh'], 126],
      [['exec', id, 'no-such-command-xyz'], 127],
      [['exec', id, 'sh', '-c', 'kill -TERM $$'], 143],
      [['exec', id, 'sh', '-c', 'kill -KILL $$'], 137],
    ];
    const got: Array<[string, number | null]> = [];
    for (const [args, want] of table) {
      const r = await run(...args);
      got.push([args.join(' '), r.code]);
      void want;
    }
    expect(got).toEqual(table.map(([args, want]) => [args.join(' '), want]));
  });

  test('sandbox create speaks the API: --cwd, --ttl as a duration, --memory as a size; --json is the REST Sandbox', async () => {
    const r = await run('sandbox', 'create', '--json', '--cwd', '/tmp', '--ttl', '1h', '--memory', '256m');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as { id: string; created_at_ms: number; expires_at_ms: number; limits: { memory_bytes: number } };
    // 1h, not 1 s (a bare number would be seconds): the daemon stamps creation and expiry a moment apart.
    expect(Math.abs(s.expires_at_ms - s.created_at_ms - 3_600_000)).toBeLessThan(60_000);
    expect(s.limits.memory_bytes).toBe(256 * 1024 * 1024);
    expect((await run('exec', s.id, 'pwd')).stdout).toBe('/tmp\n');
  });

  test('an unreachable daemon is 125', async () => {
    const r = await agentd(['exec', id, 'true'], { ...s.env, AGENTD_URL: 'http://127.0.0.1:1' });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^error: UNAVAILABLE: /);
  });

  test('everything after the id is the command: no -- needed, and -- still works', async () => {
    const a = await run('exec', id, 'ls', '-la', '/');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/workspace/);
    const b = await run('exec', id, '--', 'sh', '-c', 'echo $0 "$@"', 'x', '--timeout', '5');
    expect(b.stdout.trim()).toBe('x --timeout 5');
    const late = await run('exec', id, '--json', 'true');
    expect(late.code).toBe(125);
    expect(late.stderr).toMatch(/'--json' after the sandbox id: options go before it/);
  });

  test('a usage error is one line and a hint, not the whole help', async () => {
    const r = await run('exec', '--bogus', id, 'true');
    expect(r.code).toBe(125);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/unknown option '--bogus'/), "(run 'agentd exec --help' for usage)"]);
  });

  test('-t runs the command under a terminal (its exit status passed through); --timeout takes durations', async () => {
    const t = await run('exec', '-t', id, 'sh', '-c', 'test -t 0 && test -t 1 && echo on-a-tty; exit 6');
    expect(t.code).toBe(6);
    expect(t.stdout.toString()).toContain('on-a-tty');
    const d = await run('exec', '--timeout', '500ms', id, 'sleep', '5');
    expect(d.code).toBe(124);
    expect(d.stderr).toMatch(/within --timeout 500ms/);
  });

  test('--help documents the exit codes', async () => {
    const r = await run('exec', '--help');
    expect(r.stdout).toMatch(/124 +timed out/);
    expect(r.stdout).toMatch(/125 +agentd failed/);
    expect(r.stdout).toMatch(/127 +the command was not found/);
  });

  test('exec --json prints the REST ExecResult (snake_case), field for field', async () => {
    const r = await run('exec', '--json', id, 'sh', '-c', 'echo out; echo err >&2');
    expect(r.code).toBe(0);
    const cli = JSON.parse(r.stdout) as Record<string, unknown>;
    const rest = (await s.client.transport.json({ method: 'POST', path: `/v1/sandboxes/${id}/exec`, json: { argv: ['sh', '-c', 'echo out; echo err >&2'] } })) as Record<string, unknown>;
    expect(Object.keys(cli).sort()).toEqual(Object.keys(rest).sort());
    expect(Object.keys(cli.resource_usage as object).sort()).toEqual(Object.keys(rest.resource_usage as object).sort());
    expect({ stdout: cli.stdout, stderr: cli.stderr, exit_code: cli.exit_code }).toEqual({ stdout: 'out\n', stderr: 'err\n', exit_code: 0 });
  });

  test('output cut by a cap says how much and which cap (stderr, and --json fields)', async () => {
    const r = await run('exec', '--max-output', '1k', id, 'head', '-c', '5000', '/dev/zero');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(1024);
    expect(r.stderr).toMatch(/output truncated: 3976 bytes dropped by the output cap \(--max-output 1\.0 KiB\)/);
    const j = await run('exec', '--json', '--max-output', '1k', id, 'head', '-c', '5000', '/dev/zero');
    expect(JSON.parse(j.stdout)).toMatchObject({ output_truncated: true, output_dropped_bytes: 3976 });
  });


  test('an OOM kill says so, with the limit', async () => {
    const small = (await s.client.createSandbox({ limits: { memoryBytes: 64 * 1024 * 1024 } })).id;
    const r = await run('exec', small, 'python3', '-c', 'b = bytearray(512 * 1024 * 1024); print(len(b))');
    expect(r.code).toBe(137);
    expect(r.stderr).toMatch(/killed: out of memory \(limit 64\.0 MiB\)/);
  });

});

describe.skipIf(skipReason !== undefined)("the daemon's own time cap", { timeout: 120_000 }, () => {
  let s: Started;
  // The cap written as a duration string in the config (a `_ms` key takes one).
  beforeAll(async () => {
    s = await start('namespace', {}, { max_exec_timeout_ms: '2s' });
  });
  afterAll(async () => s?.close());

  test('a command it kills (no --timeout) says which limit and how to raise it, not "within 0s"', async () => {
    const id = (await s.client.createSandbox({})).id;
    const r = await agentd(['exec', id, 'sleep', '30'], s.env);
    expect(r.code).toBe(124);
    expect(r.stderr).toMatch(/^error: TIMEOUT: killed after 2s by the daemon's exec time limit \(1m when no --timeout is given, never more than the daemon's limits\.max_exec_timeout_ms\); give it more with --timeout DURATION/);
    expect(r.stderr).not.toMatch(/within 0s/);
  });
});

describe.skipIf(skipReason !== undefined)('a sandbox stopped while idle', { timeout: 120_000 }, () => {
  let s: Started;
  // The idle timeout written as a duration string in the config (a `_ms` key takes one).
  beforeAll(async () => {
    s = await start('namespace', { idle_timeout_ms: '1s' });
  });
  afterAll(async () => s?.close());

  test('exec says to run agentd sandbox start ID, and that works', async () => {
    const id = (await s.client.createSandbox({})).id;
    for (let i = 0; i < 200 && (await s.client.getSandbox(id)).state !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await s.client.getSandbox(id)).state).toBe('stopped');
    const r = await agentd(['exec', id, 'true'], s.env);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`agentd sandbox start ${id}`);
    const started = await agentd(['sandbox', 'start', id], s.env);
    expect(started.code).toBe(0);
  });
});
