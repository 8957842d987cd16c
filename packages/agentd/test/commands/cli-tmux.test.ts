/* eslint-disable @typescript-eslint/no-unsafe-return -- REST answers are free-form JSON, checked by expect() */
/**
 * `agentd shell` driven inside tmux as a person would (issue 11, item 6 / Done): type a
 * command and see it, resize the window and see `stty size` follow, Ctrl-C interrupts a
 * sleep and the shell survives, `exit 3` ends the CLI with 3. Plus `agentd exec -i` streaming
 * stdin as it is typed, `ps`, `attach` after the first client was SIGKILLed, and `kill`.
 * A real daemon, the namespace backend, the built CLI, a real terminal (tmux).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { CLI, cliBuilt, runCli } from '../cli/cli.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
if (!hasTmux) console.warn('skipping the tmux tests: tmux is not installed (apt-get install tmux)');
if (!cliBuilt()) console.warn(`skipping the CLI tests: ${CLI} is not built (npm run build)`);

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!hasTmux || !cliBuilt())('agentd shell in tmux, exec -i, ps, attach, kill (real daemon, namespace backend)', () => {
  let d: TestDaemon;
  let sbx = '';
  let dir = '';
  const server = `agentd-test-${process.pid}`;
  const tmux = (...args: string[]): string => {
    const r = spawnSync('tmux', ['-L', server, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const env = (): Record<string, string> => ({ AGENTD_URL: d.url, AGENTD_HOME: d.home });
  beforeAll(async () => {
    d = await startTestDaemon({});
    sbx = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id;
    dir = await mkdtemp(join(tmpdir(), 'agentd-tmux-'));
  });
  afterAll(async () => {
    spawnSync('tmux', ['-L', server, 'kill-server']);
    await d?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('type, see the echo; resize and see stty size follow; Ctrl-C interrupts sleep, the shell survives; exit 3 ends the CLI with 3', async () => {
    const exitFile = join(dir, 'exit');
    const envs = Object.entries(env()).map(([k, v]) => `${k}=${v}`).join(' ');
    tmux('new-session', '-d', '-s', 'sh1', '-x', '80', '-y', '24', `env ${envs} ${process.execPath} ${CLI} shell ${sbx}; echo "CLI-EXIT=$?" > ${exitFile}; sleep 60`);
    tmux('set-option', '-t', 'sh1', 'status', 'off');
    const screen = (): string => tmux('capture-pane', '-p', '-t', 'sh1', '-S', '-200');
    const type = (text: string): void => {
      tmux('send-keys', '-t', 'sh1', '-l', text);
      tmux('send-keys', '-t', 'sh1', 'Enter');
    };
    // The shell is up when what we type comes back computed.
    await until('the shell answers', () => {
      type('echo ready-$((6*7))');
      return screen().includes('ready-42') || undefined;
    });
    const size = (): string => tmux('display-message', '-p', '-t', 'sh1', '#{pane_height} #{pane_width}').trim();
    type('stty size');
    const first = size();
    await until(`stty size ${first}`, () => screen().split('\n').some((l) => l.trim() === first) || undefined);
    tmux('resize-window', '-t', 'sh1', '-x', '100', '-y', '40');
    const second = size();
    expect(second).not.toBe(first);
    // The resize travels as SIGWINCH to the CLI, then a control message; keys typed meanwhile may
    // overtake it, so ask again until the sandbox's terminal reports the new size.
    let asked = 0;
    await until(`stty size ${second} after resize`, () => {
      if (asked++ % 10 === 0) type('clear; stty size');
      return screen().split('\n').some((l) => l.trim() === second) || undefined;
    });
    type('sleep 30; echo A$((1+1))B');
    await new Promise((r) => setTimeout(r, 700));
    tmux('send-keys', '-t', 'sh1', 'C-c');
    type('echo sur$((1+1))vived');
    await until('the shell survived Ctrl-C', () => screen().includes('sur2vived') || undefined, 10_000);
    expect(screen()).not.toContain('A2B');
    type('exit 3');
    const text = await until('the CLI exit status', async () => (await readFile(exitFile, 'utf8').catch(() => '')) || undefined);
    expect(text.trim()).toBe('CLI-EXIT=3');
  }, 60_000);

  test('exec -i streams stdin as it is typed: a read loop answers each line before the next is sent', async () => {
    const child = spawn(process.execPath, [CLI, 'exec', '-i', sbx, '--', 'sh', '-c', 'while read -r l; do echo "got:$l"; done; echo done'], {
      env: { ...process.env, ...env() }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    for (const w of ['alpha', 'beta', 'gamma']) {
      child.stdin.write(`${w}\n`);
      await until(`answer to ${w}`, () => out.includes(`got:${w}\n`) || undefined);
      expect(out).not.toContain('done');
    }
    child.stdin.end();
    expect(await exited).toBe(0);
    expect(out).toBe('got:alpha\ngot:beta\ngot:gamma\ndone\n');
  }, 30_000);

  test('a client SIGKILLed mid-output: ps lists the command, attach from its last offset gets every byte once, in order; kill ends another', async () => {
    const start = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { command: 'i=0; while [ $i -lt 60 ]; do echo "row $i"; i=$((i+1)); sleep 0.05; done' } });
    const id = start.body.id as string;
    const first = spawn(process.execPath, [CLI, 'attach', '--no-stdin', sbx, id], { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let got = Buffer.alloc(0);
    first.stdout.on('data', (c: Buffer) => (got = Buffer.concat([got, c])));
    await until('some rows', () => got.toString().includes('row 10\n') || undefined);
    first.kill('SIGKILL');
    await new Promise((r) => first.on('close', r));
    const ps = await runCli(['ps', sbx], env());
    expect(ps.code).toBe(0);
    expect(ps.stdout).toMatch(new RegExp(`${id}\\s+\\d+\\s+(running|exited)`));
    const rest = await runCli(['attach', '--no-stdin', '--from-offset', String(got.length), sbx, id], env());
    expect(rest.code).toBe(0);
    expect(got.toString() + rest.stdout).toBe(Array.from({ length: 60 }, (_, i) => `row ${i}\n`).join(''));
    const sleeper = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { argv: ['sleep', '300'] } });
    const k = await runCli(['kill', sbx, sleeper.body.id], env());
    expect(k.code, k.stderr).toBe(0);
    const rec = await until('killed', async () => {
      const g = await d.call('GET', `/v1/sandboxes/${sbx}/commands/${sleeper.body.id}`);
      return g.body.state === 'running' ? undefined : g.body;
    });
    expect(rec.exit).toMatchObject({ signal: 'SIGKILL' });
    const again = await runCli(['attach', '--no-stdin', sbx, sleeper.body.id], env());
    expect(again.code).toBe(137);
  }, 60_000);
});
