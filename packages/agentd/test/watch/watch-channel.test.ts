/**
 * Directory watches through InitChannel: the real init (events, stop, the end of the
 * channel) and a scripted init for what the channel enforces on WATCH_* frames.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InitChannel } from '../../src/channel/init-channel.js';
import type { WatchEvent } from '../../src/channel/types.js';
import { FakeInit } from '../channel/fake-init.js';
import { HAVE_INIT, initTest } from '../channel/real-init.js';

describe.skipIf(!HAVE_INIT)('InitChannel.watch (real agentd-init)', () => {
  initTest('events in order; stop() ends it (reason stopped); the id is free again', async ({ live }) => {
    await mkdir(join(live.root, 'd'));
    const w = live.channel.watch('d', { recursive: true });
    await w.started;
    await writeFile(join(live.root, 'd/f'), 'x');
    const got: WatchEvent[] = [];
    for await (const e of w.events()) {
      got.push(e);
      if (got.length === 2) break; // return() stops the watch
    }
    expect(got).toEqual([
      { type: 'create', path: 'f', isDir: false },
      { type: 'write', path: 'f', isDir: false },
    ]);
    expect(await w.ended).toEqual({ reason: 'stopped', message: 'unwatched' });
    await live.channel.ping();
  });

  initTest('a watch ends (reason closed) when the channel ends; a missing path rejects started with FS_ERROR', async ({ live }) => {
    const bad = live.channel.watch('missing');
    await expect(bad.started).rejects.toMatchObject({ code: 'FS_ERROR', syscallCode: 'ENOENT' });
    await mkdir(join(live.root, 'e'));
    const ac = new AbortController();
    const w = live.channel.watch('e', { signal: ac.signal });
    await w.started;
    const w2 = live.channel.watch('e');
    await w2.started;
    ac.abort();
    expect((await w.ended).reason).toBe('stopped');
    await live.channel.shutdown();
    expect((await w2.ended).reason).toBe('closed');
  });
});

describe('InitChannel.watch: what it enforces on the init', () => {
  function open(): { init: FakeInit; ch: InitChannel; violations: Error[] } {
    const init = new FakeInit();
    const violations: Error[] = [];
    const ch = new InitChannel(init.stdin, init.stdout, { onViolation: (e) => violations.push(e) });
    init.ready();
    return { init, ch, violations };
  }
  const ev = (n: number, kind = 1) => Array.from({ length: n }, (_, i) => ({ kind, dir: 0, count: 0, path: `f${i}`, to: '' }));

  it('sends WATCH and WATCH_CREDIT as the consumer takes events (a quarter window at a time)', async () => {
    const { init, ch } = open();
    const w = ch.watch('/x', { recursive: true, window: 8 });
    const req = await init.take('WATCH');
    expect(req).toMatchObject({ path: '/x', recursive: 1, window: 8 });
    init.send({ type: 'OK', id: req.id });
    await w.started;
    init.send({ type: 'WATCH_EVENT', id: req.id, events: ev(4) });
    const it = w.events()[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    expect(await init.take('WATCH_CREDIT')).toMatchObject({ id: 0, watchId: req.id, events: 2 });
  });

  it.each([
    ['events before the OK', (id: number, init: FakeInit) => init.send({ type: 'WATCH_EVENT', id, events: ev(1) })],
    ['more events than the credit', (id: number, init: FakeInit) => {
      init.send({ type: 'OK', id });
      init.send({ type: 'WATCH_EVENT', id, events: ev(9) });
    }],
    ['events after WATCH_END', (id: number, init: FakeInit) => {
      init.send({ type: 'OK', id });
      init.send({ type: 'WATCH_END', id, errno: 0, message: 'x' });
      init.send({ type: 'WATCH_EVENT', id, events: ev(1) });
    }],
    ['a kind out of range', (id: number, init: FakeInit) => {
      init.send({ type: 'OK', id });
      init.send({ type: 'WATCH_EVENT', id, events: ev(1, 8) });
    }],
    ['a `to` on a CREATE', (id: number, init: FakeInit) => {
      init.send({ type: 'OK', id });
      init.send({ type: 'WATCH_EVENT', id, events: [{ kind: 1, dir: 0, count: 0, path: 'a', to: 'b' }] });
    }],
    ['a path longer than PATH_MAX', (id: number, init: FakeInit) => {
      init.send({ type: 'OK', id });
      init.send({ type: 'WATCH_EVENT', id, events: [{ kind: 1, dir: 0, count: 0, path: 'a'.repeat(4096), to: '' }] });
    }],
    ['an empty WATCH_EVENT', (id: number, init: FakeInit) => {
      init.send({ type: 'OK', id });
      init.send({ type: 'WATCH_EVENT', id, events: [] });
    }],
  ])('%s is a protocol violation (the sandbox is killed)', async (_what, misbehave) => {
    const { init, ch, violations } = open();
    const w = ch.watch('/x', { window: 8 });
    const req = await init.take('WATCH');
    misbehave(req.id, init);
    await ch.closed;
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ code: 'PROTOCOL_ERROR' });
    await w.ended.catch(() => undefined);
  });
});
