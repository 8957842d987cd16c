/**
 * PTY execs at the wire level (docs/protocol.md, "Terminals"): the real agentd-init, raw
 * frames, real pseudo-terminals.
 */
import { constants } from 'node:os';
import { describe, expect } from 'vitest';
import { EXEC_FLAGS, type Message } from '../../src/channel/frames.js';
import { exec, HAVE_INIT, killAll, PATH_ENV, rawTest as test, sleepers, token, waitUntil, type RawInit } from './raw-init.js';

const E = constants.errno;
const TERM_ENV = [...PATH_ENV, 'TERM=xterm-256color', 'HOME=/tmp', 'PS1=$ '];

function ptyExec(id: number, argv: string[], rows = 24, cols = 80, window?: number) {
  return exec(id, argv, { flags: EXEC_FLAGS.PTY, env: TERM_ENV, rows, cols, ...(window === undefined ? {} : { window }) });
}

/** Reads the terminal's output of exec `id` until `re` matches the text so far (returns it); the buffer is kept across calls. */
class Screen {
  text = '';
  constructor(
    private readonly init: RawInit,
    private readonly id: number,
  ) {}

  async waitFor(re: RegExp, timeoutMs = 8000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (re.test(this.text)) return this.text;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`terminal output never matched ${String(re)}; got ${JSON.stringify(this.text)}`);
      const m = await this.init.take((f) => f.id === this.id && (f.type === 'STDOUT' || f.type === 'STDERR' || f.type === 'EXIT'), left).catch(() => undefined);
      if (m === undefined) throw new Error(`terminal output never matched ${String(re)}; got ${JSON.stringify(this.text)}`);
      if (m.type === 'STDERR') throw new Error('a PTY exec sent STDERR');
      if (m.type === 'EXIT') throw new Error(`exited (${m.exitCode}/${m.signal}) before ${String(re)}; got ${JSON.stringify(this.text)}`);
      if (m.type === 'STDOUT') this.text += m.data.toString('latin1');
    }
  }

  /** The rest of the output up to EXIT, and the EXIT. */
  async end(timeoutMs = 8000): Promise<Message<'EXIT'>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.init.take((f) => f.id === this.id && (f.type === 'STDOUT' || f.type === 'STDERR' || f.type === 'EXIT'), Math.max(1, deadline - Date.now())).catch(() => undefined);
      if (m === undefined) throw new Error(`no EXIT; terminal output: ${JSON.stringify(this.text)}`);
      if (m.type === 'STDERR') throw new Error('a PTY exec sent STDERR');
      if (m.type === 'STDOUT') this.text += m.data.toString('latin1');
      if (m.type === 'EXIT') return m;
    }
  }
}

let reqId = 1000;
async function type(init: RawInit, execId: number, data: string): Promise<void> {
  const id = reqId++;
  init.send({ type: 'STDIN', id, execId, data: Buffer.from(data, 'latin1') });
  await init.answer('OK', id);
}

describe.skipIf(!HAVE_INIT)('agentd-init PTY execs', () => {
  test('the process runs on a terminal that is its controlling terminal, in its own session, and exits with its status', async ({ init }) => {
    init.send(ptyExec(7, ['sh', '-c', 'tty; test -t 0 && test -t 1 && test -t 2 && echo all-tty; ps -o pid=,sid=,tpgid= -p $$; echo TERM=$TERM; exit 3']));
    const started = await init.answer('STARTED', 7);
    const screen = new Screen(init, 7);
    const exit = await screen.end();
    expect(exit.exitCode).toBe(3);
    expect(screen.text).toMatch(/^\/dev\/pts\/\d+\r\n/);
    expect(screen.text).toContain('all-tty\r\n');
    // pid = session id = the terminal's foreground group: setsid + TIOCSCTTY.
    const ids = /^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/m.exec(screen.text);
    expect(ids?.slice(1).map(Number)).toEqual([started.pid, started.pid, started.pid]);
    expect(screen.text).toContain('TERM=xterm-256color');
  });

  test('Python prints line by line on a terminal (line-buffered): it answers each line while it keeps running', async ({ init }) => {
    // Block-buffered output would only come at exit, so waiting for "ready" before typing would hang.
    init.send(ptyExec(8, ['python3', '-c', 'print("ready")\nfor i in range(2):\n    x = input()\n    print("got", x)\n']));
    await init.answer('STARTED', 8);
    const screen = new Screen(init, 8);
    await screen.waitFor(/ready\r\n/);
    await type(init, 8, 'one\r');
    await screen.waitFor(/got one\r\n/);
    await type(init, 8, 'two\r');
    const exit = await screen.end();
    expect(exit.exitCode).toBe(0);
    expect(screen.text).toContain('got two\r\n');
  });

  test('stty size shows the initial size; RESIZE changes it and the foreground group gets SIGWINCH', async ({ init }) => {
    const script = ['import os, signal', 'signal.signal(signal.SIGWINCH, lambda *a: os.write(1, ("winch %d %d\\n" % tuple(os.get_terminal_size(0))).encode()))', 'print("ready")', 'input()'].join('\n');
    init.send(ptyExec(9, ['sh', '-c', `stty size; exec python3 -c '${script}'`], 24, 80));
    await init.answer('STARTED', 9);
    const screen = new Screen(init, 9);
    await screen.waitFor(/^24 80\r\n[\s\S]*ready\r\n/);
    init.send({ type: 'RESIZE', id: 50, execId: 9, rows: 50, cols: 132 });
    await init.answer('OK', 50);
    await screen.waitFor(/winch 132 50\r\n/);
    await type(init, 9, '\r');
    expect((await screen.end()).exitCode).toBe(0);

    init.send(ptyExec(10, ['sh', '-c', 'read x; stty size'], 24, 80));
    await init.answer('STARTED', 10);
    init.send({ type: 'RESIZE', id: 51, execId: 10, rows: 7, cols: 33 });
    await init.answer('OK', 51);
    await type(init, 10, '\r');
    const s2 = new Screen(init, 10);
    await s2.end();
    expect(s2.text).toContain('7 33\r\n');
  });

  test('an interactive shell: ^C typed as a byte interrupts the foreground sleep, the shell survives, exit 3 gives 3', async ({ init }) => {
    const t = token();
    init.send(ptyExec(11, ['bash', '--norc', '--noprofile', '-i']));
    await init.answer('STARTED', 11);
    const screen = new Screen(init, 11);
    try {
      await screen.waitFor(/\$ $/);
      await type(init, 11, `sleep ${t}\r`);
      expect(await waitUntil(() => sleepers(t), (p) => p.length === 1)).toHaveLength(1);
      await type(init, 11, '\x03');
      expect(await waitUntil(() => sleepers(t), (p) => p.length === 0)).toHaveLength(0);
      await type(init, 11, 'echo alive $((40+2))\r');
      await screen.waitFor(/alive 42\r\n/);
      // ^Z stops a foreground job (SIGTSTP), the shell reports it and goes on.
      await type(init, 11, `sleep ${t}\r`);
      await waitUntil(() => sleepers(t), (p) => p.length === 1);
      await type(init, 11, '\x1a');
      await screen.waitFor(/Stopped/);
      await type(init, 11, 'kill -9 %1\r');
      expect(await waitUntil(() => sleepers(t), (p) => p.length === 0)).toHaveLength(0);
      await type(init, 11, 'jobs; exit 3\r');
      const exit = await screen.end();
      expect(exit.exitCode).toBe(3);
      expect(exit.signal).toBe(0);
    } finally {
      await killAll(t);
    }
  });

  test('full-screen programs: vi opens and quits with :q, top -b -n 1 prints its table', async ({ init }) => {
    init.send(ptyExec(12, ['vi', '-u', 'NONE', '-i', 'NONE', '-N', 'file.txt'], 20, 60));
    await init.answer('STARTED', 12);
    const screen = new Screen(init, 12);
    // vi switches to the alternate screen and draws its "~" lines and the file name.
    await screen.waitFor(/file\.txt/);
    await type(init, 12, '\x1b:q\r');
    const exit = await screen.end();
    expect(exit.exitCode).toBe(0);
    expect(screen.text).toContain('\x1b[');

    init.send(ptyExec(13, ['top', '-b', '-n', '1'], 30, 100));
    await init.answer('STARTED', 13);
    const top = new Screen(init, 13);
    const topExit = await top.end();
    expect(topExit.exitCode).toBe(0);
    expect(top.text).toMatch(/PID\s+USER/);
  });

  test('closing input types VEOF: cat ends at ^D; later input is EPIPE', async ({ init }) => {
    // The exec outlives cat by a moment, so input after the close meets a live exec (EPIPE, not ESRCH).
    init.send(ptyExec(14, ['sh', '-c', 'cat; sleep 0.5']));
    await init.answer('STARTED', 14);
    await type(init, 14, 'abc\r');
    init.send({ type: 'STDIN', id: 60, execId: 14, data: Buffer.alloc(0) });
    await init.answer('OK', 60);
    init.send({ type: 'STDIN', id: 61, execId: 14, data: Buffer.from('x') });
    expect((await init.answer('ERROR', 61)).errno).toBe(E.EPIPE);
    const screen = new Screen(init, 14);
    const exit = await screen.end();
    expect(exit.exitCode).toBe(0);
    // The terminal echoes the line (ONLCR: \r\n), then cat writes it back.
    expect(screen.text).toBe('abc\r\nabc\r\n');
  });

  test('output obeys the credit window like a pipe: no byte beyond it until CREDIT', async ({ init }) => {
    init.send(ptyExec(15, ['sh', '-c', 'head -c 200000 /dev/zero | tr "\\0" x'], 24, 80, 4096));
    await init.answer('STARTED', 15);
    await new Promise((r) => setTimeout(r, 300));
    await init.flush();
    const early = init.frames.filter((f) => f.id === 15 && f.type === 'STDOUT');
    const got = early.reduce((n, f) => n + (f.type === 'STDOUT' ? f.data.length : 0), 0);
    expect(got).toBe(4096);
    expect(init.frames.some((f) => f.id === 15 && f.type === 'EXIT')).toBe(false);
    init.send({ type: 'CREDIT', id: 0, execId: 15, stream: 1, bytes: 1 << 20 });
    const { stdout, exit } = await init.collect(15); // the early frames included
    expect(stdout.length).toBe(200000);
    expect(exit.exitCode).toBe(0);
  });

  test('the last output before exit is never lost (the pty buffer is drained to EIO)', async ({ init }) => {
    for (let i = 0; i < 5; i++) {
      const id = 20 + i;
      init.send(ptyExec(id, ['sh', '-c', 'head -c 50000 /dev/zero | tr "\\0" y; printf END']));
      const { stdout, exit } = await init.collect(id);
      expect(exit.exitCode).toBe(0);
      expect(stdout.length).toBe(50003);
      expect(stdout.subarray(-3).toString()).toBe('END');
    }
  });

  test('a background process holding the terminal does not delay EXIT', async ({ init }) => {
    const t = token();
    try {
      init.send(ptyExec(30, ['sh', '-c', `sleep ${t} & echo bg-started`]));
      const { stdout, exit } = await init.collect(30);
      expect(stdout.toString()).toContain('bg-started');
      expect(exit.exitCode).toBe(0);
    } finally {
      await killAll(t);
    }
  });

  test('bad requests: PTY with other flags or a size out of range is EINVAL; RESIZE of a pipe exec is ENOTTY, of no exec ESRCH', async ({ init }) => {
    init.send(exec(40, ['true'], { flags: EXEC_FLAGS.PTY | EXEC_FLAGS.STDIN_PIPE, rows: 24, cols: 80 }));
    expect((await init.answer('ERROR', 40)).errno).toBe(E.EINVAL);
    init.send(exec(41, ['true'], { flags: EXEC_FLAGS.PTY, rows: 0, cols: 80 }));
    expect((await init.answer('ERROR', 41)).errno).toBe(E.EINVAL);
    init.send(exec(42, ['true'], { flags: EXEC_FLAGS.PTY, rows: 24, cols: 65536 }));
    expect((await init.answer('ERROR', 42)).errno).toBe(E.EINVAL);
    init.send(exec(43, ['true'], { rows: 24, cols: 80 }));
    expect((await init.answer('ERROR', 43)).errno).toBe(E.EINVAL);
    init.send(exec(44, ['sh', '-c', 'read x'], { flags: EXEC_FLAGS.STDIN_PIPE }));
    await init.answer('STARTED', 44);
    init.send({ type: 'RESIZE', id: 45, execId: 44, rows: 10, cols: 10 });
    expect((await init.answer('ERROR', 45)).errno).toBe(E.ENOTTY);
    init.send({ type: 'STDIN', id: 46, execId: 44, data: Buffer.alloc(0) });
    await init.answer('OK', 46);
    await init.collect(44);
    init.send({ type: 'RESIZE', id: 47, execId: 44, rows: 10, cols: 10 });
    expect((await init.answer('ERROR', 47)).errno).toBe(E.ESRCH);
    init.send({ type: 'RESIZE', id: 48, execId: 99, rows: 0, cols: 10 });
    expect((await init.answer('ERROR', 48)).errno).toBe(E.EINVAL);
  });

  test('SIGNAL works on a PTY exec by scope; the terminal is not the init\'s (it has none)', async ({ init }) => {
    const t = token();
    try {
      init.send(ptyExec(50, ['sh', '-c', `sleep ${t}`]));
      await init.answer('STARTED', 50);
      await waitUntil(() => sleepers(t), (p) => p.length === 1);
      init.send({ type: 'SIGNAL', id: 51, execId: 50, signo: 15, scope: 2 });
      await init.answer('OK', 51);
      const { exit } = await init.collect(50);
      expect(exit.signal).toBe(15);
    } finally {
      await killAll(t);
    }
  });
});
