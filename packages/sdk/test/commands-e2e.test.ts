/**
 * sandbox.commands and sandbox.pty against a real daemon (issue 11, item 5): background run
 * with a handle, interactive stdin, reattach from the offset a SIGKILLed client process
 * reached (every byte once, in order), overflow reported, list, kill; a terminal with
 * sendInput, resize, Ctrl-C and wait; AbortSignal and asyncDispose.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentdClient, CancelledError, NotFoundError, Sandbox } from '../src/index.js';
import { e2eSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const skipReason = e2eSkipReason();
if (skipReason !== undefined) console.log(`skipping SDK commands e2e tests: ${skipReason}`);

const text = (parts: Uint8Array[]): string => Buffer.concat(parts).toString('utf8');
async function until(what: string, pred: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(skipReason !== undefined)('sandbox.commands and sandbox.pty (real daemon)', () => {
  let d: TestDaemon;
  let client: AgentdClient;
  let sbx: Sandbox;
  beforeAll(async () => {
    d = await startTestDaemon();
    client = new AgentdClient({ baseUrl: d.url, apiKey: d.adminKey });
    sbx = await Sandbox.create({ client });
  }, 60_000);
  afterAll(async () => {
    await sbx?.destroy().catch(() => undefined);
    await d?.close();
  }, 60_000);

  test('run({background: true}) returns a handle; stdin streams interactively; list and wait', async () => {
    const out: Uint8Array[] = [];
    const h = await sbx.commands.run('while read -r l; do echo "ok:$l"; done; exit 9', { background: true, keepStdinOpen: true, onStdout: (b) => out.push(b) });
    expect(h.id).toMatch(/^cmd_/);
    await h.sendStdin('x\n');
    await until('first answer', () => text(out) === 'ok:x\n');
    await sbx.commands.sendStdin(h.id, 'y\n');
    await until('second answer', () => text(out) === 'ok:x\nok:y\n');
    expect((await sbx.commands.list()).find((c) => c.id === h.id)).toMatchObject({ state: 'running', stdinOpen: true });
    await h.closeStdin();
    expect(await h.wait()).toMatchObject({ state: 'exited', exitCode: 9 });
    expect(text(out)).toBe('ok:x\nok:y\n');
    expect((await sbx.exec('echo hi')).commandId).toMatch(/^cmd_/);
  });

  test('a client process SIGKILLed mid-output: connect(id, {fromOffset}) gets every remaining byte once, in order', async () => {
    const cmd = await sbx.commands.start('i=0; while [ $i -lt 80 ]; do echo "line $i"; i=$((i+1)); sleep 0.03; done', {});
    // The first client is a separate Node process that prints offsets as it goes; it is SIGKILLed.
    const script = `
      import { AgentdClient, Sandbox } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const sbx = await Sandbox.connect(${JSON.stringify(sbx.id)}, { client: new AgentdClient({ baseUrl: ${JSON.stringify(d.url)}, apiKey: ${JSON.stringify(d.adminKey)} }) });
      await sbx.commands.connect(${JSON.stringify(cmd.id)}, { onData: (c) => process.stdout.write(JSON.stringify({ offset: c.offset, data: Buffer.from(c.bytes).toString() }) + '\\n') });
      await new Promise(() => {});`;
    // The built SDK (npm run build), as an application would load it.
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let got = '';
    let next = 0;
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const f = JSON.parse(buf.slice(0, nl)) as { offset: number; data: string };
        buf = buf.slice(nl + 1);
        expect(f.offset).toBe(next);
        got += f.data;
        next += Buffer.byteLength(f.data);
      }
    });
    await until('the first client got some lines', () => got.includes('line 15\n'), 30_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const rest: Uint8Array[] = [];
    const h = await sbx.commands.connect(cmd.id, { fromOffset: next, onStdout: (b) => rest.push(b) });
    expect(await h.wait()).toMatchObject({ exitCode: 0 });
    expect(h.lostBytes).toBe(0);
    expect(h.pid).toBe(cmd.pid);
    await expect(sbx.commands.connect('cmd_aaaaaaaaaaaaaaaa')).rejects.toBeInstanceOf(NotFoundError);
    expect(got + text(rest)).toBe(Array.from({ length: 80 }, (_, i) => `line ${i}\n`).join(''));
  }, 60_000);

  test('overflow is reported with the bytes lost; AbortSignal stops following, not the command; kill', async () => {
    // The daemon's ring is 1 MiB by default: 1.5 MiB of output loses 0.5 MiB for a reader from 0.
    const r = await sbx.exec("head -c 1572864 /dev/zero | tr '\\0' z");
    const lost: number[] = [];
    const out: Uint8Array[] = [];
    const h = await sbx.commands.connect(r.commandId ?? '', { onOverflow: (n) => lost.push(n), onStdout: (b) => out.push(b) });
    await h.wait();
    expect(lost).toEqual([524288]);
    expect(Buffer.concat(out).length).toBe(1048576);

    const ac = new AbortController();
    const h2 = await sbx.commands.run(['sleep', '300'], { background: true, signal: ac.signal });
    ac.abort();
    await expect(h2.wait()).rejects.toBeInstanceOf(CancelledError);
    expect((await sbx.commands.get(h2.id)).state).toBe('running');
    await sbx.commands.kill(h2.id);
    const h3 = await sbx.commands.connect(h2.id);
    expect(await h3.wait()).toMatchObject({ signal: 'SIGKILL' });
  }, 30_000);

  test('pty.create: input echoes, resize changes stty size, Ctrl-C interrupts, wait gives the exit; await using kills', async () => {
    const screen: Uint8Array[] = [];
    const pty = await sbx.pty.create({ cols: 80, rows: 24, onData: (b) => screen.push(b), cmd: ['/bin/sh'] });
    await pty.sendInput('stty size\n');
    // (Typed before the shell's first prompt, the answer follows that prompt instead of the echoed line.)
    await until('24 80', () => /(\r\n|\$ )24 80\r\n/.test(text(screen)));
    await pty.resize({ cols: 120, rows: 50 });
    await pty.sendInput('stty size\n');
    await until('50 120', () => /(\r\n|\$ )50 120\r\n/.test(text(screen)));
    await pty.sendInput('sleep 30\n');
    await new Promise((r) => setTimeout(r, 300));
    await pty.sendInput('\x03');
    await pty.sendInput('echo x$((2+3))y\n');
    await until('shell alive after Ctrl-C', () => text(screen).includes('x5y'));
    await pty.sendInput('exit 5\n');
    expect(await pty.wait()).toMatchObject({ exitCode: 5 });
    let id = '';
    {
      await using p2 = await sbx.pty.create({ cols: 80, rows: 24, onData: () => undefined, cmd: ['sleep', '300'] });
      id = p2.id;
    }
    expect((await sbx.commands.get(id)).exit).toMatchObject({ signal: 'SIGKILL' });
  }, 30_000);
});
