/**
 * agentd-init survives garbage: a seeded stream of thousands of random, truncated,
 * oversized, mistyped and mutated frames, sent in random-sized pieces. Afterwards it is
 * alive, answers PING, and answered every frame that was certainly bad with the ERROR
 * the protocol prescribes. (The C decoder is also fuzzed with libFuzzer: native/fuzz/.)
 *
 * Seed: AGENTD_GARBAGE_SEED (printed), so a failure can be replayed.
 */
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { describe, expect } from 'vitest';
import { DAEMON_MESSAGES, encodeMessage, MAX_FRAME, MSG, type DaemonMessage } from '../../src/channel/frames.js';
import { HAVE_INIT, rawTest as test, type RawInit } from './raw-init.js';

const E = constants.errno;

/** mulberry32: a tiny seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAEMON_TYPES = new Set<number>(DAEMON_MESSAGES.map((name) => MSG[name]));
const NO_PROGRAM = '/nonexistent/agentd-garbage-program';

/** Harmless well-formed requests (nothing runs, file ops stay in the init's temporary root). */
function baseMessages(id: number): DaemonMessage[] {
  return [
    { type: 'EXEC', id, flags: 1, argv: [NO_PROGRAM, 'a', 'b'], env: ['A=1', 'PATH=/nonexistent'], cwd: '', window: 4096, nice: 3, rows: 0, cols: 0 },
    { type: 'STDIN', id, execId: 999_999, data: Buffer.from('data') },
    { type: 'CREDIT', id, execId: 999_999, stream: 1, bytes: 100 },
    { type: 'SIGNAL', id, execId: 999_999, signo: 0, scope: 2 },
    { type: 'FS_READ', id, path: 'some/file', offset: 0, limit: 100 },
    { type: 'FS_WRITE', id, path: 'g/file', flags: 2, mode: 0o644, data: Buffer.from('garbage') },
    { type: 'FS_STAT', id, path: '../../etc', follow: 1 },
    { type: 'FS_LIST', id, path: '/', start: 0 },
    { type: 'FS_MKDIR', id, path: 'g/d/e', mode: 0o755, parents: 1 },
    { type: 'FS_REMOVE', id, path: 'g/d', recursive: 1 },
    { type: 'FS_RENAME', id, from: 'g/file', to: 'g/file2', overwrite: 1 },
  ];
}

function frame(type: number, id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32LE(payload.length + 5, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32LE(id, 5);
  return Buffer.concat([head, payload]);
}

interface Expectation {
  id: number;
  errno: number;
}

interface Garbage {
  chunks: Buffer[];
  /** Frames that must be answered ERROR(id, errno). */
  expected: Expectation[];
  /** How many ERRORs with id 0 (framing errors) must come. */
  framingErrors: { EPROTO: number; EMSGSIZE: number };
}

function makeGarbage(seed: number, count: number): Garbage {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const pick = <T>(xs: T[]): T => xs[int(xs.length)] as T;
  const chunks: Buffer[] = [];
  const expected: Expectation[] = [];
  const framingErrors = { EPROTO: 0, EMSGSIZE: 0 };
  let nextId = 1000;
  let oversized = 0;

  for (let i = 0; i < count; i++) {
    const id = nextId++;
    const kind = int(10);
    if (kind === 0) {
      // Unknown message type.
      let type = int(256);
      while (DAEMON_TYPES.has(type)) type = int(256);
      chunks.push(frame(type, id, bytes(int(64))));
      expected.push({ id, errno: E.ENOSYS });
    } else if (kind === 1) {
      // len < 5: only the 4 length bytes; the next frame's length follows.
      const len = Buffer.alloc(4);
      len.writeUInt32LE(int(5), 0);
      chunks.push(len);
      framingErrors.EPROTO++;
    } else if (kind === 2) {
      // A well-formed request with its payload cut short.
      const base = encodeMessage(pick(baseMessages(id)));
      const payload = base.subarray(9);
      chunks.push(frame(base.readUInt8(4), id, payload.subarray(0, int(payload.length))));
      expected.push({ id, errno: E.EINVAL });
    } else if (kind === 3) {
      // Trailing bytes after a complete payload (PING and SHUTDOWN included: a payload makes SHUTDOWN invalid).
      const msg = int(6) === 0 ? ({ type: pick(['PING', 'SHUTDOWN'] as const), id } as DaemonMessage) : pick(baseMessages(id));
      const base = encodeMessage(msg);
      chunks.push(frame(base.readUInt8(4), id, Buffer.concat([base.subarray(9), bytes(1 + int(16))])));
      expected.push({ id, errno: E.EINVAL });
    } else if (kind === 4) {
      // Bad lists: too many items, or a count the payload cannot hold.
      const p = Buffer.alloc(8);
      p.writeUInt32LE(0, 0);
      p.writeUInt32LE(int(2) === 0 ? 4097 + int(0xfff00000) : 3 + int(100), 4);
      chunks.push(frame(0x02, id, Buffer.concat([p, bytes(int(40))])));
      expected.push({ id, errno: E.EINVAL });
    } else if (kind === 5) {
      // A NUL byte inside a path.
      const path = Buffer.from(`a${'\0'}b/${bytes(4).toString('hex')}`);
      const p = Buffer.alloc(4 + path.length + 1);
      p.writeUInt32LE(path.length, 0);
      path.copy(p, 4);
      p.writeUInt8(0, 4 + path.length);
      chunks.push(frame(0x12, id, p));
      expected.push({ id, errno: E.EINVAL });
    } else if (kind === 6) {
      // Out-of-range values: a u8 boolean of 2+, a scope of 3+, a read limit over MAX_CHUNK.
      const v = int(3);
      const msg: DaemonMessage =
        v === 0
          ? { type: 'FS_STAT', id, path: 'x', follow: 2 + int(250) }
          : v === 1
            ? { type: 'SIGNAL', id, execId: 1, signo: 9, scope: 3 + int(250) }
            : { type: 'FS_READ', id, path: 'x', offset: 0, limit: 1024 * 1024 + 1 + int(1000) };
      chunks.push(encodeMessage(msg));
      expected.push({ id, errno: E.EINVAL });
    } else if (kind === 7 && oversized < 3) {
      // len > MAX_FRAME with its whole body sent: discarded without being buffered.
      oversized++;
      const len = MAX_FRAME + 1 + int(4096);
      const head = Buffer.alloc(4);
      head.writeUInt32LE(len, 0);
      chunks.push(head, bytes(len));
      framingErrors.EMSGSIZE++;
    } else if (kind === 8) {
      // A harmless request with random bytes flipped (outcome unknown; it just must not hurt).
      const base = Buffer.from(encodeMessage(pick(baseMessages(id))));
      for (let k = 0; k < 1 + int(4); k++) {
        const at = 9 + int(Math.max(1, base.length - 9));
        if (at < base.length) base[at] = int(256);
      }
      chunks.push(base);
    } else {
      // A random payload for a random daemon type (never an empty SHUTDOWN).
      const type = pick([...DAEMON_TYPES]);
      const payload = bytes(type === 0x06 ? 1 + int(32) : int(64));
      chunks.push(frame(type, id, payload));
    }
  }
  return { chunks, expected, framingErrors };
}

/** Writes the stream in random-sized pieces, honouring the pipe's backpressure. */
async function sendInPieces(init: RawInit, data: Buffer, seed: number): Promise<void> {
  const rnd = prng(seed ^ 0x5eed);
  let at = 0;
  while (at < data.length) {
    const n = 1 + Math.floor(rnd() * (rnd() < 0.5 ? 16 : 65536));
    const ok = init.child.stdin?.write(data.subarray(at, at + n));
    at += n;
    if (ok === false) await new Promise((resolve) => init.child.stdin?.once('drain', resolve));
  }
}

describe.skipIf(!HAVE_INIT)('agentd-init under garbage frames', () => {
  const seed = Number(process.env.AGENTD_GARBAGE_SEED ?? 20261123);

  test(`survives ${4000} random frames and answers each certainly-bad one (seed ${seed})`, { timeout: 60_000 }, async ({ init }) => {
    console.log(`garbage-frames seed: ${seed} (replay with AGENTD_GARBAGE_SEED=${seed})`);
    await init.answer('READY', 0);
    const garbage = makeGarbage(seed, 4000);
    expect(garbage.expected.length).toBeGreaterThan(1000);
    await sendInPieces(init, Buffer.concat(garbage.chunks), seed);

    init.send({ type: 'PING', id: 0xfffffff0 });
    await init.answer('PONG', 0xfffffff0, 30_000);
    expect(init.alive).toBe(true);

    const errors = new Map<number, number[]>();
    for (const f of init.frames) {
      if (f.type === 'PROTOCOL_ERROR') throw new Error(`the init sent an undecodable frame: ${f.error.message}`);
      if (f.type === 'ERROR') errors.set(f.id, [...(errors.get(f.id) ?? []), f.errno]);
    }
    const missing = garbage.expected.filter((x) => !(errors.get(x.id) ?? []).includes(x.errno));
    expect(missing).toEqual([]);
    const framing = errors.get(0) ?? [];
    expect(framing.filter((e) => e === E.EPROTO).length).toBe(garbage.framingErrors.EPROTO);
    expect(framing.filter((e) => e === E.EMSGSIZE).length).toBe(garbage.framingErrors.EMSGSIZE);
    expect(garbage.framingErrors.EMSGSIZE).toBeGreaterThan(0);

    // Oversized frames were discarded, not buffered.
    const status = await readFile(`/proc/${init.pid}/status`, 'utf8');
    const rssKib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    expect(rssKib).toBeLessThan(32 * 1024);
  });
});
