/**
 * PTY execs through InitChannel: the `pty` option, TERM, output as one stream, resize,
 * closeStdin as VEOF (real agentd-init), and what the channel enforces on the init's
 * frames of a PTY exec (a scripted init).
 */
import { describe, expect, it } from 'vitest';
import { InitChannel } from '../../src/channel/init-channel.js';
import type { ExecHandle } from '../../src/channel/types.js';
import { FakeInit } from './fake-init.js';
import { HAVE_INIT, initTest, PATH_ENV } from './real-init.js';

/** Collects a handle's output as text until `re` matches (the iterator stays open). */
function reader(h: ExecHandle): { waitFor(re: RegExp): Promise<string>; rest(): Promise<string>; streams: Set<string> } {
  const it = h.output()[Symbol.asyncIterator]();
  let text = '';
  const streams = new Set<string>();
  return {
    streams,
    async waitFor(re) {
      while (!re.test(text)) {
        const r = await it.next();
        if (r.done === true) throw new Error(`output ended before ${String(re)}: ${JSON.stringify(text)}`);
        streams.add(r.value.stream);
        text += r.value.data.toString('latin1');
      }
      return text;
    },
    async rest() {
      for (;;) {
        const r = await it.next();
        if (r.done === true) return text;
        streams.add(r.value.stream);
        text += r.value.data.toString('latin1');
      }
    },
  };
}

describe.skipIf(!HAVE_INIT)('PTY execs through InitChannel (real agentd-init)', () => {
  initTest('pty: {rows, cols, term} gives a terminal of that size with that TERM; stdout and stderr come as one stream', async ({ live }) => {
    const h = live.channel.exec({ argv: ['sh', '-c', 'stty size; echo TERM=$TERM; echo to-stderr >&2; exit 4'], env: PATH_ENV, pty: { rows: 33, cols: 101, term: 'vt100' } });
    expect(h.pty).toBe(true);
    const out = reader(h);
    const text = await out.rest();
    expect(text).toBe('33 101\r\nTERM=vt100\r\nto-stderr\r\n');
    expect([...out.streams]).toEqual(['stdout']);
    expect((await h.exited).exitCode).toBe(4);
  });

  initTest('TERM defaults to the env\'s own, else xterm-256color', async ({ live }) => {
    const a = reader(live.channel.exec({ argv: ['sh', '-c', 'echo $TERM'], env: PATH_ENV, pty: { rows: 5, cols: 5 } }));
    expect(await a.rest()).toBe('xterm-256color\r\n');
    const b = reader(live.channel.exec({ argv: ['sh', '-c', 'echo $TERM'], env: { ...PATH_ENV, TERM: 'screen' }, pty: { rows: 5, cols: 5 } }));
    expect(await b.rest()).toBe('screen\r\n');
  });

  initTest('resize() changes the size a running program sees; closeStdin() is ^D; writeStdin types', async ({ live }) => {
    const h = live.channel.exec({ argv: ['sh', '-c', 'stty size; read x; stty size; cat'], env: PATH_ENV, pty: { rows: 24, cols: 80 } });
    const out = reader(h);
    await out.waitFor(/24 80\r\n/);
    await h.resize?.(40, 120);
    await h.writeStdin('\r');
    await out.waitFor(/40 120\r\n/);
    await h.writeStdin('hello\r');
    await out.waitFor(/hello\r\nhello\r\n/);
    await h.closeStdin();
    await out.rest();
    expect((await h.exited).exitCode).toBe(0);
    await expect(h.resize?.(10, 10)).rejects.toMatchObject({ code: 'EXEC_FAILED', syscallCode: 'ESRCH' });
  });

  initTest('bad sizes and flag mixes are refused before anything is sent; resize of a pipe exec is refused', async ({ live }) => {
    expect(() => live.channel.exec({ argv: ['true'], env: PATH_ENV, pty: { rows: 0, cols: 80 } })).toThrow(/rows must be an integer from 1 to 65535/);
    expect(() => live.channel.exec({ argv: ['true'], env: PATH_ENV, pty: { rows: 24, cols: 70000 } })).toThrow(/cols/);
    expect(() => live.channel.exec({ argv: ['true'], env: PATH_ENV, pty: { rows: 24, cols: 80 }, stdinPipe: true })).toThrow(/no stdinPipe or mergeStderr/);
    const h = live.channel.exec({ argv: ['true'], env: PATH_ENV });
    expect(h.pty).toBe(false);
    await expect(h.resize?.(10, 10)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await h.exited;
  });
});

describe('PTY execs: what InitChannel enforces', () => {
  function open(): { init: FakeInit; ch: InitChannel; violations: Error[] } {
    const init = new FakeInit();
    const violations: Error[] = [];
    const ch = new InitChannel(init.stdin, init.stdout, { onViolation: (e) => violations.push(e) });
    return { init, ch, violations };
  }

  it('sends EXEC with the PTY flag and the size, RESIZE with the exec id', async () => {
    const { init, ch } = open();
    init.ready();
    const h = ch.exec({ argv: ['bash'], env: { A: '1' }, pty: { rows: 24, cols: 80 } });
    const req = await init.take('EXEC');
    expect(req).toMatchObject({ flags: 16, rows: 24, cols: 80, env: ['A=1', 'TERM=xterm-256color'] });
    init.send({ type: 'STARTED', id: req.id, pid: 5, shepherd: 4 });
    await h.started;
    const resized = h.resize?.(50, 60);
    const rz = await init.take('RESIZE');
    expect(rz).toMatchObject({ execId: req.id, rows: 50, cols: 60 });
    init.send({ type: 'OK', id: rz.id });
    await resized;
  });

  it('STDERR for a PTY exec is a protocol violation (a terminal has one stream)', async () => {
    const { init, ch, violations } = open();
    init.ready();
    const h = ch.exec({ argv: ['bash'], env: {}, pty: { rows: 24, cols: 80 } });
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 5, shepherd: 4 });
    await h.started;
    init.send({ type: 'STDERR', id: req.id, data: Buffer.from('x') });
    await expect(h.exited).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    expect(violations).toHaveLength(1);
  });

  it('PTY output beyond the credit is a protocol violation, as for a pipe', async () => {
    const { init, ch, violations } = open();
    init.ready();
    const h = ch.exec({ argv: ['bash'], env: {}, pty: { rows: 24, cols: 80 }, window: 10 });
    const req = await init.take('EXEC');
    init.send({ type: 'STARTED', id: req.id, pid: 5, shepherd: 4 });
    await h.started;
    init.send({ type: 'STDOUT', id: req.id, data: Buffer.alloc(11) });
    await expect(h.exited).rejects.toMatchObject({ code: 'PROTOCOL_ERROR' });
    expect(violations).toHaveLength(1);
  });
});
