/**
 * `agentd run -i`: this process's stdin is streamed to the command as it comes (a `read` loop
 * answers each line as it is sent), closed at its end, and passed byte for byte; without -i the
 * command's stdin is /dev/null, as with `docker run` (issue 10: stdin was never passed).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI, cliBuilt } from './cli.js';

let home: string;

beforeAll(async () => {
  if (!cliBuilt()) throw new Error('the CLI is not built: run `npm run build` (npm test does it first)');
  home = await mkdtemp(join(tmpdir(), 'agentd-run-stdin-'));
  await chmod(home, 0o711);
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

function startRun(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'run', ...args], { env: { ...process.env, AGENTD_HOME: home, AGENTD_CONFIG: '' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = new Promise<number | null>((resolve) => child.once('close', resolve));
  const waitFor = async (text: string, ms = 20_000): Promise<void> => {
    const until = Date.now() + ms;
    while (!out.includes(text)) {
      if (Date.now() > until) throw new Error(`'${text}' never came; stdout: ${out}; stderr: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, code, waitFor, out: () => out, err: () => err };
}

describe('agentd run -i', { timeout: 120_000 }, () => {
  test('interactive: each line is answered before the next is sent; EOF ends the loop', async () => {
    const r = startRun(['-i', '--', 'sh', '-c', 'while read l; do echo "got $l"; done; echo eof']);
    r.child.stdin.write('one\n');
    await r.waitFor('got one\n');
    expect(r.out()).not.toContain('two');
    r.child.stdin.write('two\n');
    await r.waitFor('got two\n');
    r.child.stdin.end();
    expect(await r.code).toBe(0);
    expect(r.out()).toBe('got one\ngot two\neof\n');
  });

  test('8 MiB of binary stdin arrive byte for byte', async () => {
    const data = randomBytes(8 << 20);
    const r = startRun(['-i', '--', 'sha256sum']);
    r.child.stdin.end(data);
    expect(await r.code).toBe(0);
    expect(r.out().split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
  });

  test('without -i the command reads nothing (its stdin is /dev/null)', async () => {
    const r = startRun(['--', 'sh', '-c', 'wc -c']);
    r.child.stdin.end('ignored\n');
    expect(await r.code).toBe(0);
    expect(r.out().trim()).toBe('0');
  });
});
