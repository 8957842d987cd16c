/**
 * The bundled CLI (packages/agentd/dist-cli, made by scripts/bundle-cli.mjs in `npm run build`):
 * the loader routes each command to its bundle (client, local, serve) and runs it with the V8
 * code cache of this build; it behaves as the tsc build does (help, usage errors, exit codes,
 * exec against a real daemon, run in a real sandbox), and a cache of another build is ignored.
 */
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { CLI, cliBuilt, type CliResult } from './cli.js';

const BUNDLE_DIR = fileURLToPath(new URL('../../dist-cli/', import.meta.url));
const LOADER = join(BUNDLE_DIR, 'main.js');

function run(script: string, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, AGENTD_DEBUG: undefined, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: Date.now() - started });
    });
  });
}

const built = cliBuilt() && existsSync(LOADER);

describe.skipIf(!built)('the bundled CLI (dist-cli; needs npm run build)', { timeout: 120_000 }, () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'agentd-bundle-test-'));
    await chmod(home, 0o711);
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  test('prints and exits as the tsc build for help, version, usage errors and a bad config', async () => {
    const cases = [
      ['--version'], ['--help'], ['exec', '--help'], ['run', '--help'], ['serve', '--help'], ['help', 'run'],
      ['no-such-command'], ['exec'], ['run'], ['run', '--bogus-flag', '--', 'true'], ['config', 'check', join(home, 'missing.toml')],
    ];
    const env = { AGENTD_HOME: home, AGENTD_CONFIG: '' };
    for (const args of cases) {
      const [bundled, plain] = await Promise.all([run(LOADER, args, env), run(CLI, args, env)]);
      expect({ args, code: bundled.code, stdout: bundled.stdout, stderr: bundled.stderr }).toEqual({ args, code: plain.code, stdout: plain.stdout, stderr: plain.stderr });
    }
  });

  test("each command group runs from its own bundle with this build's code cache", async () => {
    const env = { AGENTD_HOME: home, AGENTD_CONFIG: '', AGENTD_DEBUG: 'code-cache' };
    const seen: Record<string, string> = {};
    for (const args of [['exec', '--help'], ['run', '--help'], ['config', '--help'], ['serve', '--help'], ['--version']]) {
      const r = await run(LOADER, args, env);
      expect(r.code).toBe(0);
      seen[args.join(' ')] = r.stderr.trim();
    }
    expect(seen).toEqual({
      'exec --help': 'agentd: code cache client: used',
      'run --help': 'agentd: code cache local: used',
      'config --help': 'agentd: code cache local: used',
      'serve --help': 'agentd: code cache serve: used',
      '--version': 'agentd: code cache client: used',
    });
  });

  test('a code cache of another build is ignored: the bundle compiles from source and works', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'agentd-bundle-copy-'));
    try {
      for (const f of ['main.js', 'package.json', 'client.cjs']) await copyFile(join(BUNDLE_DIR, f), join(copy, f));
      const cache = await readFile(join(BUNDLE_DIR, 'client.cjs.cache'));
      // Same length, another build id in the header.
      const other = Buffer.from(cache);
      other.write('agentd-code-cache 0000000000000000', 0, 'latin1');
      await writeFile(join(copy, 'client.cjs.cache'), other);
      const r = await run(join(copy, 'main.js'), ['--version'], { AGENTD_DEBUG: 'code-cache' });
      const plain = await run(CLI, ['--version']);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, plain.stdout, 'agentd: code cache client: ignored (another build)\n']);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  describe('against a real daemon', () => {
    let d: TestDaemon;
    beforeAll(async () => {
      d = await startTestDaemon();
    });
    afterAll(async () => {
      await d?.close();
    });

    test('exec: output on the right streams, the exit status, and 127 for a missing command', async () => {
      const created = await d.call('POST', '/v1/sandboxes', { body: {} });
      expect(created.status).toBe(201);
      const id = (created.body as { id: string }).id;
      const env = { AGENTD_HOME: d.home, AGENTD_URL: d.url };
      const r = await run(LOADER, ['exec', id, 'sh', '-c', 'echo out; echo err >&2; exit 3'], env);
      expect([r.code, r.stdout, r.stderr]).toEqual([3, 'out\n', 'err\n']);
      const missing = await run(LOADER, ['exec', id, '--', 'no-such-command-xyz'], env);
      expect(missing.code).toBe(127);
      const gone = await run(LOADER, ['exec', 'sbx_no_such_sandbox', '--', 'true'], env);
      expect(gone.code).toBe(125);
      expect(gone.stderr).toMatch(/NOT_FOUND/);
    });
  });

  test('run: a fresh sandbox, its output and exit status', async () => {
    const r = await run(LOADER, ['run', '--', 'sh', '-c', 'echo "$USER in $(pwd)"; exit 4'], { AGENTD_HOME: home, AGENTD_CONFIG: '' });
    expect([r.code, r.stdout]).toEqual([4, 'agent in /workspace\n']);
  });
});
