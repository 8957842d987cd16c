/**
 * Directory watches at the wire level (docs/protocol.md, "Directory watches"): the real
 * agentd-init, raw frames, real inotify.
 */
import { appendFile, chmod, mkdir, rename, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { WATCH_KIND, type Message, type WireWatchEvent } from '../../src/channel/frames.js';
import { HAVE_INIT, rawTest as test, type RawInit } from '../init/raw-init.js';

const E = constants.errno;
const NAME = Object.fromEntries(Object.entries(WATCH_KIND).map(([k, v]) => [v, k]));

/** An event as a short string: "create d sub", "rename f a -> b", "overflow 12". */
function show(e: WireWatchEvent): string {
  const kind = NAME[e.kind] as string;
  if (kind === 'overflow') return `overflow ${e.count}`;
  if (kind === 'unwatched') return `unwatched ${e.path} ${e.count}`;
  return `${kind} ${e.dir ? 'd' : 'f'} ${e.path}${kind === 'rename' ? ` -> ${e.to}` : ''}`;
}

class Events {
  list: string[] = [];
  constructor(
    private readonly init: RawInit,
    private readonly id: number,
  ) {}

  /** Takes WATCH_EVENT frames until `n` events in all were seen (or `until` matches one). */
  async take(n: number, timeoutMs = 5000): Promise<string[]> {
    while (this.list.length < n) {
      const m = await this.init.take((f): f is Message<'WATCH_EVENT'> => f.type === 'WATCH_EVENT' && f.id === this.id, timeoutMs).catch(() => undefined);
      if (m === undefined) throw new Error(`only ${this.list.length} of ${n} events; the last: ${JSON.stringify(this.list.slice(-8))}`);
      this.list.push(...m.events.map(show));
    }
    return this.list;
  }

  async until(pred: (e: string) => boolean, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.list.some(pred)) await this.take(this.list.length + 1, Math.max(1, deadline - Date.now()));
    return this.list;
  }

  /** No further event arrives within `ms` (after the ones already taken). */
  async none(ms = 200): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    const extra = this.init.frames.filter((f) => f.type === 'WATCH_EVENT' && f.id === this.id);
    expect(extra.flatMap((f) => (f.type === 'WATCH_EVENT' ? f.events.map(show) : []))).toEqual([]);
  }
}

async function watch(init: RawInit, id: number, path: string, recursive: boolean, window = 0): Promise<Events> {
  init.send({ type: 'WATCH', id, path, recursive: recursive ? 1 : 0, window });
  await init.answer('OK', id);
  return new Events(init, id);
}

describe.skipIf(!HAVE_INIT)('agentd-init directory watches', () => {
  test('create, write, chmod, rename (from/to paired), remove in a recursive tree come in order, relative to the watched directory', async ({ init }) => {
    await mkdir(join(init.root, 'w'));
    const ev = await watch(init, 10, 'w', true);
    await mkdir(join(init.root, 'w/sub'));
    await ev.take(1);
    await writeFile(join(init.root, 'w/sub/a.txt'), 'hello');
    await ev.take(3);
    await appendFile(join(init.root, 'w/sub/a.txt'), ' again');
    await ev.take(4);
    await chmod(join(init.root, 'w/sub/a.txt'), 0o600);
    await ev.take(5);
    await rename(join(init.root, 'w/sub/a.txt'), join(init.root, 'w/b.txt'));
    await ev.take(6);
    await rename(join(init.root, 'w/sub'), join(init.root, 'w/sub2'));
    await ev.take(7);
    // The renamed directory is still watched, under its new name.
    await writeFile(join(init.root, 'w/sub2/c'), '');
    await ev.take(9);
    await rm(join(init.root, 'w/b.txt'));
    await rm(join(init.root, 'w/sub2'), { recursive: true });
    await ev.take(12);
    expect(ev.list).toEqual([
      'create d sub',
      'create f sub/a.txt',
      'write f sub/a.txt',
      'write f sub/a.txt',
      'chmod f sub/a.txt',
      'rename f sub/a.txt -> b.txt',
      'rename d sub -> sub2',
      'create f sub2/c',
      'write f sub2/c',
      'remove f b.txt',
      'remove f sub2/c',
      'remove d sub2',
    ]);
    await ev.none();
  });

  test('a non-recursive watch sees only its own directory\'s entries', async ({ init }) => {
    await mkdir(join(init.root, 'flat/inner'), { recursive: true });
    const ev = await watch(init, 11, 'flat', false);
    await writeFile(join(init.root, 'flat/inner/deep'), 'x');
    await writeFile(join(init.root, 'flat/top'), 'x');
    await ev.take(2);
    expect(ev.list).toEqual(['create f top', 'write f top']);
    await ev.none();
  });

  test('a directory made in the tree is watched at once; what was made in it before its watch existed is reported as created', async ({ init }) => {
    await mkdir(join(init.root, 't'));
    const ev = await watch(init, 12, 't', true);
    // Built outside, then moved in whole: the watch cannot have seen any of it being made.
    await mkdir(join(init.root, 'outside/x/y'), { recursive: true });
    await writeFile(join(init.root, 'outside/x/y/f'), '1');
    await rename(join(init.root, 'outside/x'), join(init.root, 't/x'));
    await ev.take(3);
    expect(ev.list).toEqual(['create d x', 'create d x/y', 'create f x/y/f']);
    await writeFile(join(init.root, 't/x/y/g'), '2');
    await ev.take(5);
    expect(ev.list.slice(3)).toEqual(['create f x/y/g', 'write f x/y/g']);
    // Moved out: a removal, and no longer watched.
    await rename(join(init.root, 't/x'), join(init.root, 'outside/x2'));
    await ev.take(6);
    expect(ev.list[5]).toBe('remove d x');
    await writeFile(join(init.root, 'outside/x2/y/h'), '3');
    await ev.none();
  });

  test('a flood beyond the queue and the credit is reported as overflow with the number lost, never dropped silently', async ({ init }) => {
    await mkdir(join(init.root, 'flood'));
    await mkdir(join(init.root, 'prep'));
    const n = 6000;
    await Promise.all(Array.from({ length: n }, (_, i) => writeFile(join(init.root, 'prep', `f${i}`), '')));
    // Window of 1 event and no credit: everything else queues in the init (up to 4096).
    const ev = await watch(init, 13, 'flood', true, 1);
    await rename(join(init.root, 'prep'), join(init.root, 'flood/prep'));
    await ev.take(1);
    expect(ev.list[0]).toBe('create d prep');
    await new Promise((r) => setTimeout(r, 300));
    init.send({ type: 'WATCH_CREDIT', id: 0, watchId: 13, events: 100_000 });
    await ev.until((e) => e.startsWith('overflow'));
    const creates = ev.list.filter((e) => e.startsWith('create f prep/')).length;
    const overflow = ev.list.find((e) => e.startsWith('overflow')) as string;
    const lost = Number(overflow.split(' ')[1]);
    // Every one of the n entries is either reported or counted as lost.
    expect(lost).toBeGreaterThan(0);
    expect(creates + lost).toBe(n);
    // The watch goes on after the overflow.
    await writeFile(join(init.root, 'flood/after'), '');
    await ev.until((e) => e === 'write f after');
  });

  test('the kernel\'s own queue overflow (IN_Q_OVERFLOW) is reported as an overflow event', async ({ init }) => {
    await mkdir(join(init.root, 'kq'));
    const ev = await watch(init, 14, 'kq', false, 1);
    await writeFile(join(init.root, 'kq/a'), '');
    await writeFile(join(init.root, 'kq/b'), '');
    await ev.take(1);
    // The init stops reading inotify once its queue is full; the kernel's queue (16384) then
    // overflows. Two files in turn: inotify merges an event identical to the one before it.
    const files = [join(init.root, 'kq/a'), join(init.root, 'kq/b')];
    for (let i = 0; i < 30_000; i++) await chmod(files[i % 2] as string, 0o600);
    init.send({ type: 'WATCH_CREDIT', id: 0, watchId: 14, events: 100_000 });
    await ev.until((e) => e === 'overflow 0', 20_000);
  }, 60_000);

  test('a watch ends (WATCH_END ENOENT) after the last events when its directory is removed; UNWATCH ends it at once', async ({ init }) => {
    await mkdir(join(init.root, 'gone'));
    const ev = await watch(init, 15, 'gone', true);
    await writeFile(join(init.root, 'gone/f'), '');
    await rm(join(init.root, 'gone'), { recursive: true });
    const end = await init.answer('WATCH_END', 15);
    expect(end.errno).toBe(E.ENOENT);
    await ev.take(3);
    expect(ev.list).toEqual(['create f f', 'write f f', 'remove f f']);

    await mkdir(join(init.root, 'stay'));
    await watch(init, 16, 'stay', false);
    init.send({ type: 'PING', id: 16 });
    expect((await init.answer('ERROR', 16)).errno).toBe(E.EBUSY);
    init.send({ type: 'UNWATCH', id: 17, watchId: 16 });
    await init.answer('OK', 17);
    expect((await init.answer('WATCH_END', 16)).errno).toBe(0);
    init.send({ type: 'UNWATCH', id: 18, watchId: 16 });
    expect((await init.answer('ERROR', 18)).errno).toBe(E.ESRCH);
    init.send({ type: 'PING', id: 16 });
    await init.answer('PONG', 16);
  });

  test('paths are resolved beneath the init\'s root: .. and a symlink to a host directory cannot leave it; errors carry the errno', async ({ init }) => {
    await symlink('/etc', join(init.root, 'etc-link'));
    init.send({ type: 'WATCH', id: 20, path: 'etc-link', recursive: 0, window: 0 });
    // /etc inside the root does not exist: the host's /etc is never watched.
    expect((await init.answer('ERROR', 20)).errno).toBe(E.ENOENT);
    await writeFile(join(init.root, 'file'), '');
    init.send({ type: 'WATCH', id: 21, path: 'file', recursive: 0, window: 0 });
    expect((await init.answer('ERROR', 21)).errno).toBe(E.ENOTDIR);
    init.send({ type: 'WATCH', id: 22, path: 'missing', recursive: 0, window: 0 });
    expect((await init.answer('ERROR', 22)).errno).toBe(E.ENOENT);
    // ".." of the root is the root itself: events name entries of the init's root.
    const ev = await watch(init, 23, '../..', false);
    await writeFile(join(init.root, 'seen'), '');
    await ev.take(2);
    expect(ev.list).toEqual(['create f seen', 'write f seen']);
    // A symlink inside the tree to a directory outside is an entry, never followed.
    await mkdir(join(init.root, 'tree'));
    const tree = await watch(init, 24, 'tree', true);
    await symlink('/tmp', join(init.root, 'tree/tmp-link'));
    await tree.take(1);
    expect(tree.list).toEqual(['create f tmp-link']);
  });

  test('at most 16 watches at a time (EMFILE); bad frames are EINVAL', async ({ init }) => {
    for (let i = 0; i < 16; i++) {
      await mkdir(join(init.root, `d${i}`));
      await watch(init, 100 + i, `d${i}`, false);
    }
    await mkdir(join(init.root, 'd16'));
    init.send({ type: 'WATCH', id: 116, path: 'd16', recursive: 0, window: 0 });
    expect((await init.answer('ERROR', 116)).errno).toBe(E.EMFILE);
    init.send({ type: 'UNWATCH', id: 117, watchId: 100 });
    await init.answer('OK', 117);
    await init.answer('WATCH_END', 100);
    await watch(init, 118, 'd16', false);
    init.send({ type: 'WATCH', id: 0, path: 'd16', recursive: 0, window: 0 });
    expect((await init.answer('ERROR', 0)).errno).toBe(E.EINVAL);
    await rmdir(join(init.root, 'd1')).catch(() => undefined);
  });
});
