/**
 * The `agentd` CLI as a child process against a real daemon (port 0 and its Unix socket).
 * Needs the built JS: `npx tsc -b packages/sdk packages/agentd` (dist/ older than the
 * sources is refused, so a stale build cannot pass for the current code).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { e2eSkipReason, startTestDaemon, type TestDaemon } from '../../../sdk/test/helpers/daemon.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const mainJs = join(root, 'agentd/dist/cli/main.js');

function newestMtime(dir: string, ext: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(ext)) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

function buildSkipReason(): string | undefined {
  if (!existsSync(mainJs)) return `${mainJs} is not built (run: npx tsc -b packages/sdk packages/agentd)`;
  for (const [src, dist] of [
    ['sdk/src', 'sdk/dist'],
    ['agentd/src/cli', 'agentd/dist/cli'],
  ] as const) {
    if (!existsSync(join(root, dist)) || newestMtime(join(root, src), '.ts') > newestMtime(join(root, dist), '.js')) {
      return `packages/${dist} is older than packages/${src} (run: npx tsc -b packages/sdk packages/agentd)`;
    }
  }
  return undefined;
}

const skipReason = e2eSkipReason() ?? buildSkipReason();
if (skipReason !== undefined) console.log(`skipping CLI e2e tests: ${skipReason}`);

interface Run {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

function agentd(args: string[], env: NodeJS.ProcessEnv, stdin?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainJs, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString(), code }));
    child.stdin.end(stdin);
  });
}

// Each CLI run is a fresh Node process (hundreds of ms, seconds on a loaded 2-core machine).
describe.skipIf(skipReason !== undefined)('agentd CLI against a real daemon', { timeout: 180_000 }, () => {
  let d: TestDaemon;
  let env: NodeJS.ProcessEnv;
  let work: string;
  const run = (...args: string[]): Promise<Run> => agentd(args, env);
  /** Runs a command that must succeed quietly; returns its stdout (a failure shows its stderr). */
  const ok = async (...args: string[]): Promise<string> => {
    const r = await run(...args);
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    return r.stdout.toString();
  };

  beforeAll(async () => {
    d = await startTestDaemon();
    env = { AGENTD_URL: d.url, AGENTD_API_KEY: d.adminKey };
    work = mkdtempSync(join(tmpdir(), 'agentd-cli-e2e-'));
  }, 60_000);

  afterAll(async () => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
    await d?.close();
  }, 60_000);

  async function create(...flags: string[]): Promise<string> {
    const r = await run('sandbox', 'create', ...flags);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const id = r.stdout.toString().trim();
    expect(id).toMatch(/^sbx_[a-z2-7]+$/);
    return id;
  }

  async function withSandbox(body: (id: string) => Promise<void>, ...flags: string[]): Promise<void> {
    const id = await create(...flags);
    try {
      await body(id);
    } finally {
      await d.socketClient.destroySandbox(id).catch(() => undefined);
    }
  }

  test('sandbox create, ls (table and --json), info, rm', async () => {
    const tag = `t${Date.now()}`;
    const id = await create('--label', `run=${tag}`, '--env', 'A=1');
    const table = await run('sandbox', 'ls', '--label', `run=${tag}`);
    expect(table.code).toBe(0);
    const lines = table.stdout.toString().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATE\s+BACKEND\s+PROFILE\s+CREATED\s+LABELS$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([id]);
    expect(lines[1]).toContain('running');
    // --json prints the REST answer itself: {sandboxes: [Sandbox]}, snake_case.
    const json = JSON.parse((await run('sandbox', 'ls', '--json')).stdout.toString()) as { sandboxes: { id: string; labels: Record<string, string>; created_at_ms: number }[] };
    expect(json.sandboxes.find((s) => s.id === id)).toMatchObject({ labels: { run: tag }, created_at_ms: expect.any(Number) });
    const info = await run('sandbox', 'info', id);
    expect(info.stdout.toString()).toMatch(new RegExp(`^id:\\s+${id}\\nstate:\\s+running\\n`));
    expect(JSON.parse((await run('sandbox', 'info', id, '--json')).stdout.toString())).toMatchObject({ id, state: 'running', backend: d.backend });
    const rm = await run('sandbox', 'rm', id);
    expect([rm.code, rm.stdout.toString()]).toEqual([0, `${id}\n`]);
    const gone = await run('sandbox', 'info', id);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error: NOT_FOUND: .+\n$/);
  });

  test('exec streams stdout/stderr byte-exact and passes exit codes through (code, 128+signal, timeout)', async () => {
    await withSandbox(async (id) => {
      const r = await run('exec', id, '--', 'sh', '-c', String.raw`printf '\000\377\376x\n\342\202'; printf 'to-err' >&2; exit 3`);
      expect([...r.stdout]).toEqual([0, 0xff, 0xfe, 0x78, 0x0a, 0xe2, 0x82]);
      expect(r.stderr).toBe('to-err');
      expect(r.code).toBe(3);
      const killed = await run('exec', id, '--', 'sh', '-c', 'kill -9 $$');
      expect(killed.code).toBe(137);
      const slow = await run('exec', '--timeout', '0.5', id, '--', 'sleep', '30');
      expect(slow.code).toBe(124);
      expect(slow.stderr).toMatch(/^error: TIMEOUT: /);
      const opts = await run('exec', '--env', 'A=x y', '--env', 'B=2', '--cwd', '/tmp', id, '--', 'sh', '-c', 'echo "$A|$B"; pwd');
      expect([opts.code, opts.stdout.toString()]).toEqual([0, 'x y|2\n/tmp\n']);
      const piped = await agentd(['exec', '-i', id, '--', 'wc', '-c'], env, randomBytes(1000));
      expect(piped.stdout.toString().trim()).toBe('1000');
      const json = JSON.parse((await run('exec', '--json', id, '--', 'sh', '-c', 'echo hi; exit 4')).stdout.toString());
      expect(json).toMatchObject({ exit_code: 4, stdout: 'hi\n', encoding: 'utf8' });
    });
  });

  test('exec output arrives live, before the command ends', async () => {
    await withSandbox(async (id) => {
      const child = spawn(process.execPath, [mainJs, 'exec', id, '--', 'sh', '-c', 'echo first; sleep 2; echo second'], {
        env: { PATH: process.env.PATH, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const arrivals: { at: number; text: string }[] = [];
      child.stdout.on('data', (c: Buffer) => arrivals.push({ at: performance.now(), text: c.toString() }));
      const exitedAt = await new Promise<number>((resolve) => child.on('close', () => resolve(performance.now())));
      expect(arrivals.map((a) => a.text).join('')).toBe('first\nsecond\n');
      expect(arrivals[0]?.text).toBe('first\n');
      expect(exitedAt - (arrivals[0]?.at ?? exitedAt)).toBeGreaterThan(1500);
    });
  });

  test('exec reports a missing program (127) and a missing sandbox (125) as error lines', async () => {
    await withSandbox(async (id) => {
      const noProgram = await run('exec', id, '--', '/no/such/program');
      expect(noProgram.code).toBe(127);
      expect(noProgram.stderr).toMatch(/^error: EXEC_FAILED: .*ENOENT.*\n$/);
    });
    const noSandbox = await run('exec', 'sbx_doesnotexist0000', '--', 'true');
    expect([noSandbox.code, noSandbox.stderr]).toEqual([125, expect.stringMatching(/^error: NOT_FOUND: [^\n]+\n$/)]);
  });

  test('cp copies files in and out, binary-safe, across several chunks', async () => {
    await withSandbox(async (id) => {
      const data = randomBytes(5 * 1024 * 1024 + 123);
      const src = join(work, 'big.bin');
      writeFileSync(src, data);
      const up = await run('cp', src, `${id}:/workspace/`);
      expect([up.code, up.stderr]).toEqual([0, '']);
      const size = await run('exec', id, '--', 'stat', '-c', '%s', '/workspace/big.bin');
      expect(size.stdout.toString().trim()).toBe(String(data.length));
      const outDir = mkdtempSync(join(work, 'out-'));
      const down = await run('cp', `${id}:/workspace/big.bin`, outDir);
      expect([down.code, down.stderr]).toEqual([0, '']);
      expect(readFileSync(join(outDir, 'big.bin')).equals(data)).toBe(true);
      const toStdout = await run('cp', `${id}:/workspace/big.bin`, '-');
      expect(toStdout.stdout.equals(data)).toBe(true);

      const missing = await run('cp', `${id}:/workspace/nope.bin`, join(outDir, 'nope.bin'));
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^error: FS_ERROR: .*ENOENT.*\n$/);
      expect(existsSync(join(outDir, 'nope.bin'))).toBe(false);
    });
  });

  test('cp -r copies a tree in and out with its modes; symlinks are skipped on both sides, never followed', async () => {
    await withSandbox(async (id) => {
      const tree = join(work, 'tree');
      const data = randomBytes(300 * 1024 + 7);
      mkdirSync(join(tree, 'a', 'b'), { recursive: true });
      mkdirSync(join(tree, 'a', 'empty'));
      writeFileSync(join(tree, 'a', 'b', 'c.bin'), data);
      writeFileSync(join(tree, 'top.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
      symlinkSync('/etc/hostname', join(tree, 'hostlink'));

      const flat = await run('cp', tree, `${id}:/workspace/`);
      expect([flat.code, flat.stderr]).toEqual([1, expect.stringContaining('use cp -r')]);
      const up = await run('cp', '-r', '--chunk-size', '65536', tree, `${id}:/workspace/`);
      expect(up.code, up.stderr).toBe(0);
      expect(up.stderr).toContain(`skipped ${join(tree, 'hostlink')} (a symlink: not followed)`);
      const listing = await run('exec', id, '--', 'sh', '-c', 'cd /workspace/tree && find . -printf "%y %m %s %p\\n" | sort -k4');
      const lines = listing.stdout.toString().trim().split('\n').map((l) => l.replace(/^(\w) (\d+) (\d+) /, '$1 $2 '));
      expect(lines).toEqual(['d 755 .', 'd 755 ./a', 'd 755 ./a/b', 'f 644 ./a/b/c.bin', 'd 755 ./a/empty', 'f 755 ./top.sh']);
      const sum = await run('exec', id, '--', 'sha256sum', '/workspace/tree/a/b/c.bin');
      expect(sum.stdout.toString().split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));

      // In the sandbox, a link to a host-looking path; out on the host it must not appear or be followed.
      await ok('exec', id, '--', 'ln', '-s', '/etc', '/workspace/tree/evil');
      const outDir = mkdtempSync(join(work, 'tree-out-'));
      const down = await run('cp', '-r', `${id}:/workspace/tree`, outDir);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stderr).toContain('skipped /workspace/tree/evil in the sandbox (a symlink: not followed)');
      const back = join(outDir, 'tree');
      expect(readFileSync(join(back, 'a', 'b', 'c.bin')).equals(data)).toBe(true);
      expect(statSync(join(back, 'top.sh')).mode & 0o777).toBe(0o755);
      expect(statSync(join(back, 'a', 'empty')).isDirectory()).toBe(true);
      expect(existsSync(join(back, 'evil'))).toBe(false);
      expect(existsSync(join(back, 'hostlink'))).toBe(false);

      // A symlink already at a target path on the host is refused (O_NOFOLLOW), not written through.
      const victim = join(work, 'victim.txt');
      writeFileSync(victim, 'untouched');
      const trap = mkdtempSync(join(work, 'trap-'));
      mkdirSync(join(trap, 'tree'));
      symlinkSync(victim, join(trap, 'tree', 'top.sh'));
      const refused = await run('cp', '-r', `${id}:/workspace/tree`, trap);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^error: INVALID_ARGUMENT: cannot write .*top\.sh: ELOOP\n$/m);
      expect(readFileSync(victim, 'utf8')).toBe('untouched');
    });
  });

  test('suspend, resume, snapshot, fork, restore', async () => {
    await withSandbox(async (id) => {
      await ok('exec', id, '--', 'sh', '-c', 'echo v1 > /workspace/f');
      expect(await ok('sandbox', 'suspend', id)).toBe(`${id} suspended\n`);
      const blocked = await run('exec', id, '--', 'true');
      expect(blocked.stderr).toMatch(/^error: SANDBOX_SUSPENDED: /);
      expect(await ok('sandbox', 'resume', id)).toBe(`${id} running\n`);
      const snap = (await ok('sandbox', 'snapshot', id, '--name', 'v1')).trim();
      expect(snap).toMatch(/^snap_/);
      await ok('exec', id, '--', 'sh', '-c', 'echo v2 > /workspace/f');
      const child = (await ok('sandbox', 'fork', id, '--snapshot', snap)).trim();
      try {
        expect(child).toMatch(/^sbx_/);
        expect(await ok('exec', child, '--', 'cat', '/workspace/f')).toBe('v1\n');
      } finally {
        await run('sandbox', 'rm', child);
      }
      expect(await ok('sandbox', 'restore', id, snap)).toBe(`${id} running\n`);
      expect(await ok('exec', id, '--', 'cat', '/workspace/f')).toBe('v1\n');
      const snaps = JSON.parse(await ok('sandbox', 'snapshots', '--json')) as { snapshots: { id: string; sandbox_id: string }[] };
      expect(snaps.snapshots.find((s) => s.id === snap)?.sandbox_id).toBe(id);
    });
  });

  test('keys over the Unix socket (peer creds), then used over HTTP; a revoked key is refused', async () => {
    const sock = { AGENTD_SOCKET: d.socketPath };
    const created = await agentd(['keys', 'create', '--subject', 'ci', '--tenant', 'default', '--role', 'user'], sock);
    expect(created.code).toBe(0);
    const secret = created.stdout.toString().trim();
    expect(secret).toMatch(/^agd_/);
    expect(created.stderr).toContain('shown only once');
    const keys = JSON.parse((await agentd(['keys', 'ls', '--json'], sock)).stdout.toString()) as { keys: { id: string; subject: string; prefix: string }[] };
    const key = keys.keys.find((k) => k.subject === 'ci');
    expect(key).toBeDefined();
    expect(secret.startsWith(key?.prefix ?? '?')).toBe(true);
    expect(JSON.stringify(keys)).not.toContain(secret);

    const asCi = await agentd(['sandbox', 'ls', '--url', d.url, '--api-key', secret], {});
    expect(asCi.code).toBe(0);
    expect((await agentd(['keys', 'revoke', key?.id ?? ''], sock)).code).toBe(0);
    const refused = await agentd(['sandbox', 'ls', '--url', d.url, '--api-key', secret], {});
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: UNAUTHENTICATED: /);
    const userCannot = await agentd(['keys', 'ls'], { AGENTD_URL: d.url, AGENTD_API_KEY: secret });
    expect(userCannot.stderr).toMatch(/^error: UNAUTHENTICATED: /);
  });

  test('audit lists what happened', async () => {
    await withSandbox(async (id) => {
      await run('exec', id, '--', 'true');
      const events = JSON.parse((await run('audit', '--limit', '50', '--json')).stdout.toString()) as { events: { sandbox_id: string | null; capability: string | null }[] };
      expect(events.events.some((e) => e.sandbox_id === id && e.capability === 'shell.exec.v1')).toBe(true);
      const table = (await run('audit', '--limit', '5')).stdout.toString();
      expect(table.split('\n')[0]).toMatch(/^TIME\s+SUBJECT\s+TENANT\s+ACTION\s+SANDBOX\s+STATUS\s+CODE\s+MS$/);
    });
  });

  test('errors are one line with a code, never a stack trace', async () => {
    const noAuth = await agentd(['sandbox', 'ls'], { AGENTD_URL: d.url });
    expect([noAuth.code, noAuth.stderr]).toEqual([1, expect.stringMatching(/^error: UNAUTHENTICATED: [^\n]+\n$/)]);
    const badArg = await run('sandbox', 'create', '--memory', 'lots');
    expect(badArg.code).not.toBe(0);
    expect(badArg.stderr).not.toMatch(/\n\s+at /);
    const badSocket = await agentd(['sandbox', 'ls', '--socket', join(work, 'missing.sock')], {});
    expect([badSocket.code, badSocket.stderr]).toEqual([1, expect.stringMatching(/^error: UNAVAILABLE: cannot reach agentd .*ENOENT/)]);
  });
});
