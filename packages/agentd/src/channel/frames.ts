/**
 * The agentd-init wire codec (docs/protocol.md, version 4).
 *
 * Every message of both directions is described once in `MESSAGES` (type byte + ordered
 * payload fields); encoding and decoding are driven by that table, so the daemon side
 * (encode requests, decode the init's answers) and the reverse side used by test doubles
 * (decode requests, encode answers) can never drift apart.
 */
import { AgentdError } from '../core/errors.js';

export const PROTOCOL_VERSION = 4;
/** Largest data chunk (stdout, stderr, stdin, file data) in one frame. */
export const MAX_CHUNK = 1024 * 1024;
/** Largest value of a frame's `len` field. */
export const MAX_FRAME = MAX_CHUNK + 64;
/** `len` (4) + `type` (1) + `id` (4). */
export const HEADER_BYTES = 9;
export const MAX_LIST_ITEMS = 4096;
/** Highest EXEC `nice` (an increment over the init's own nice value; Linux caps the sum at 19 too). */
export const MAX_NICE = 19;
/**
 * Caps on what the init may answer (docs/protocol.md, "What the daemon enforces"): an
 * answer beyond them is a protocol violation. The init's own ERROR texts are at most 511
 * bytes, a symlink target at most PATH_MAX, a directory entry name at most NAME_MAX.
 */
export const MAX_ERROR_MESSAGE = 512;
export const MAX_LINK_TARGET = 4096;
export const MAX_ENTRY_NAME = 255;
export const MAX_VERSION_STRING = 256;

export const EXEC_FLAGS = { STDIN_PIPE: 1, MERGE_STDERR: 2, PTY: 16 } as const;
/** Largest PTY rows / cols (the kernel's struct winsize holds unsigned shorts). */
export const MAX_PTY_DIM = 65535;
export const WRITE_FLAGS = { APPEND: 1, CREATE_DIRS: 2, EXCLUSIVE: 4 } as const;
export const STREAM = { stdout: 1, stderr: 2 } as const;
export const SCOPE = { leader: 0, group: 1, tree: 2 } as const;
export const KIND = { file: 1, directory: 2, symlink: 3, other: 4 } as const;

type FieldKind = 'u8' | 'u32' | 'i32' | 'u64' | 'i64' | 'str' | 'bytes' | 'strs' | 'entries' | 'wevents';
type FieldSpec = readonly [name: string, kind: FieldKind];

/** One directory entry of FS_LIST_RESULT as it is on the wire. */
export interface WireDirEntry {
  name: string;
  kind: number;
  mode: number;
  size: number;
  mtimeMs: number;
}

/** Directory-watch event kinds (docs/protocol.md, "Directory watches"). */
export const WATCH_KIND = { create: 1, write: 2, remove: 3, rename: 4, chmod: 5, overflow: 6, unwatched: 7 } as const;
/** Concurrent WATCHes per init, event queue per watch, default event window, events per frame (docs/protocol.md). */
export const MAX_WATCHES = 16;
export const MAX_WATCH_DIRS = 8192;
export const MAX_WATCH_QUEUE = 4096;
export const DEFAULT_WATCH_WINDOW = 1024;
export const MAX_WATCH_BATCH = 256;
/** Longest path in a watch event (PATH_MAX - 1). */
export const MAX_WATCH_PATH = 4095;

/** One event of WATCH_EVENT as it is on the wire. */
export interface WireWatchEvent {
  kind: number;
  /** 1 if the entry is a directory. */
  dir: number;
  /** OVERFLOW: events lost (0 = unknown: the kernel's queue overflowed); UNWATCHED: the errno. */
  count: number;
  /** Relative to the watched directory ("" = the directory itself). */
  path: string;
  /** RENAME: the new path; "" otherwise. */
  to: string;
}

interface KindTypes {
  u8: number;
  u32: number;
  i32: number;
  u64: number;
  i64: number;
  str: string;
  bytes: Buffer;
  strs: string[];
  entries: WireDirEntry[];
  wevents: WireWatchEvent[];
}

/** The message table: name -> type byte and payload fields, in wire order. */
export const MESSAGES = {
  // daemon -> init
  PING: { type: 0x01, fields: [] },
  EXEC: { type: 0x02, fields: [['flags', 'u32'], ['argv', 'strs'], ['env', 'strs'], ['cwd', 'str'], ['window', 'u32'], ['nice', 'u32'], ['rows', 'u32'], ['cols', 'u32']] },
  STDIN: { type: 0x03, fields: [['execId', 'u32'], ['data', 'bytes']] },
  CREDIT: { type: 0x04, fields: [['execId', 'u32'], ['stream', 'u8'], ['bytes', 'u32']] },
  SIGNAL: { type: 0x05, fields: [['execId', 'u32'], ['signo', 'i32'], ['scope', 'u8']] },
  SHUTDOWN: { type: 0x06, fields: [] },
  RESIZE: { type: 0x07, fields: [['execId', 'u32'], ['rows', 'u32'], ['cols', 'u32']] },
  FS_READ: { type: 0x10, fields: [['path', 'str'], ['offset', 'u64'], ['limit', 'u32']] },
  FS_WRITE: { type: 0x11, fields: [['path', 'str'], ['flags', 'u32'], ['mode', 'u32'], ['data', 'bytes']] },
  FS_STAT: { type: 0x12, fields: [['path', 'str'], ['follow', 'u8']] },
  FS_LIST: { type: 0x13, fields: [['path', 'str'], ['start', 'u32']] },
  FS_MKDIR: { type: 0x14, fields: [['path', 'str'], ['mode', 'u32'], ['parents', 'u8']] },
  FS_REMOVE: { type: 0x15, fields: [['path', 'str'], ['recursive', 'u8']] },
  FS_RENAME: { type: 0x16, fields: [['from', 'str'], ['to', 'str'], ['overwrite', 'u8']] },
  WATCH: { type: 0x17, fields: [['path', 'str'], ['recursive', 'u8'], ['window', 'u32']] },
  UNWATCH: { type: 0x18, fields: [['watchId', 'u32']] },
  WATCH_CREDIT: { type: 0x19, fields: [['watchId', 'u32'], ['events', 'u32']] },
  NET_CONNECT: { type: 0x20, fields: [['port', 'u32'], ['token', 'bytes']] },
  // init -> daemon
  READY: { type: 0x80, fields: [['protocolVersion', 'u32'], ['pid', 'i32'], ['version', 'str']] },
  PONG: { type: 0x81, fields: [] },
  OK: { type: 0x82, fields: [] },
  ERROR: { type: 0x83, fields: [['errno', 'i32'], ['message', 'str']] },
  STARTED: { type: 0x84, fields: [['pid', 'i32'], ['shepherd', 'i32']] },
  STDOUT: { type: 0x85, fields: [['data', 'bytes']] },
  STDERR: { type: 0x86, fields: [['data', 'bytes']] },
  EXIT: { type: 0x87, fields: [['exitCode', 'i32'], ['signal', 'i32'], ['maxRssKib', 'u64'], ['userUsec', 'u64'], ['sysUsec', 'u64']] },
  FS_DATA: { type: 0x90, fields: [['fileSize', 'u64'], ['eof', 'u8'], ['data', 'bytes']] },
  FS_WRITTEN: { type: 0x91, fields: [['bytesWritten', 'u64'], ['fileSize', 'u64']] },
  FS_STAT_RESULT: { type: 0x92, fields: [['kind', 'u8'], ['mode', 'u32'], ['size', 'u64'], ['mtimeMs', 'i64'], ['uid', 'u32'], ['gid', 'u32'], ['linkTarget', 'str']] },
  FS_LIST_RESULT: { type: 0x93, fields: [['more', 'u8'], ['entries', 'entries']] },
  WATCH_EVENT: { type: 0x94, fields: [['events', 'wevents']] },
  WATCH_END: { type: 0x95, fields: [['errno', 'i32'], ['message', 'str']] },
} as const satisfies Record<string, { type: number; fields: readonly FieldSpec[] }>;

export type MessageName = keyof typeof MESSAGES;

/** Message type bytes by name (`MSG.EXEC === 0x02`). */
export const MSG = Object.freeze(
  Object.fromEntries(Object.entries(MESSAGES).map(([name, spec]) => [name, spec.type])),
) as { readonly [N in MessageName]: (typeof MESSAGES)[N]['type'] };

type FieldsOf<F extends readonly FieldSpec[]> = { [E in F[number] as E[0]]: KindTypes[E[1]] };
export type Message<N extends MessageName = MessageName> = N extends MessageName
  ? { type: N; id: number } & FieldsOf<(typeof MESSAGES)[N]['fields']>
  : never;

export const DAEMON_MESSAGES = ['PING', 'EXEC', 'STDIN', 'CREDIT', 'SIGNAL', 'SHUTDOWN', 'RESIZE', 'FS_READ', 'FS_WRITE', 'FS_STAT', 'FS_LIST', 'FS_MKDIR', 'FS_REMOVE', 'FS_RENAME', 'WATCH', 'UNWATCH', 'WATCH_CREDIT', 'NET_CONNECT'] as const;
export const INIT_MESSAGES = ['READY', 'PONG', 'OK', 'ERROR', 'STARTED', 'STDOUT', 'STDERR', 'EXIT', 'FS_DATA', 'FS_WRITTEN', 'FS_STAT_RESULT', 'FS_LIST_RESULT', 'WATCH_EVENT', 'WATCH_END'] as const;

/** daemon -> init */
export type DaemonMessage = Message<(typeof DAEMON_MESSAGES)[number]>;
/** init -> daemon */
export type InitMessage = Message<(typeof INIT_MESSAGES)[number]>;

/**
 * A frame that could not be decoded. `fatal` means the framing itself is broken (the
 * stream cannot be resynchronised and must be closed); otherwise only the frame `id` is bad.
 */
export interface ProtocolErrorEvent {
  type: 'PROTOCOL_ERROR';
  id: number;
  fatal: boolean;
  error: AgentdError;
}

const NAME_BY_TYPE = new Map<number, MessageName>(
  Object.entries(MESSAGES).map(([name, spec]) => [spec.type, name as MessageName]),
);

// ---------------------------------------------------------------- encoding

function fieldSize(kind: FieldKind, value: unknown): number {
  switch (kind) {
    case 'u8':
      return 1;
    case 'u32':
    case 'i32':
      return 4;
    case 'u64':
    case 'i64':
      return 8;
    case 'str':
      return 4 + Buffer.byteLength(value as string);
    case 'bytes':
      return 4 + (value as Uint8Array).byteLength;
    case 'strs': {
      let n = 4;
      for (const s of value as string[]) n += 4 + Buffer.byteLength(s);
      return n;
    }
    case 'entries': {
      let n = 4;
      for (const e of value as WireDirEntry[]) n += 4 + Buffer.byteLength(e.name) + 1 + 4 + 8 + 8;
      return n;
    }
    case 'wevents': {
      let n = 4;
      for (const e of value as WireWatchEvent[]) n += 1 + 1 + 8 + 4 + Buffer.byteLength(e.path) + 4 + Buffer.byteLength(e.to);
      return n;
    }
  }
}

function checkInt(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new AgentdError('INVALID_ARGUMENT', `frame field ${name} out of range: ${String(value)}`);
  }
  return value;
}

function checkStr(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new AgentdError('INVALID_ARGUMENT', `frame field ${name} must be a string`);
  if (value.includes('\0')) throw new AgentdError('INVALID_ARGUMENT', `frame field ${name} contains a NUL byte`);
  return value;
}

function writeField(buf: Buffer, off: number, name: string, kind: FieldKind, value: unknown): number {
  switch (kind) {
    case 'u8':
      return buf.writeUInt8(checkInt(name, value, 0, 0xff), off);
    case 'u32':
      return buf.writeUInt32LE(checkInt(name, value, 0, 0xffffffff), off);
    case 'i32':
      return buf.writeInt32LE(checkInt(name, value, -0x80000000, 0x7fffffff), off);
    case 'u64':
      return buf.writeBigUInt64LE(BigInt(checkInt(name, value, 0, Number.MAX_SAFE_INTEGER)), off);
    case 'i64':
      return buf.writeBigInt64LE(BigInt(checkInt(name, value, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)), off);
    case 'str': {
      const s = checkStr(name, value);
      const n = buf.write(s, off + 4);
      buf.writeUInt32LE(n, off);
      return off + 4 + n;
    }
    case 'bytes': {
      const data = value as Uint8Array;
      buf.writeUInt32LE(data.byteLength, off);
      buf.set(data, off + 4);
      return off + 4 + data.byteLength;
    }
    case 'strs': {
      const list = value as string[];
      if (list.length > MAX_LIST_ITEMS) throw new AgentdError('INVALID_ARGUMENT', `frame field ${name} has more than ${MAX_LIST_ITEMS} items`);
      off = buf.writeUInt32LE(list.length, off);
      for (const s of list) off = writeField(buf, off, name, 'str', s);
      return off;
    }
    case 'entries': {
      const list = value as WireDirEntry[];
      off = buf.writeUInt32LE(list.length, off);
      for (const e of list) {
        off = writeField(buf, off, 'name', 'str', e.name);
        off = writeField(buf, off, 'kind', 'u8', e.kind);
        off = writeField(buf, off, 'mode', 'u32', e.mode);
        off = writeField(buf, off, 'size', 'u64', e.size);
        off = writeField(buf, off, 'mtimeMs', 'i64', e.mtimeMs);
      }
      return off;
    }
    case 'wevents': {
      const list = value as WireWatchEvent[];
      off = buf.writeUInt32LE(list.length, off);
      for (const e of list) {
        off = writeField(buf, off, 'kind', 'u8', e.kind);
        off = writeField(buf, off, 'dir', 'u8', e.dir);
        off = writeField(buf, off, 'count', 'u64', e.count);
        off = writeField(buf, off, 'path', 'str', e.path);
        off = writeField(buf, off, 'to', 'str', e.to);
      }
      return off;
    }
  }
}

/**
 * Encodes one message (either direction) into a complete frame.
 * Throws AgentdError('INVALID_ARGUMENT') for a value the protocol cannot carry, and
 * 'PAYLOAD_TOO_LARGE' for a frame over MAX_FRAME.
 */
export function encodeMessage(msg: Message): Buffer {
  const spec = MESSAGES[msg.type];
  const fields = spec.fields as readonly FieldSpec[];
  const record = msg as unknown as Record<string, unknown>;
  let size = HEADER_BYTES;
  for (const [name, kind] of fields) size += fieldSize(kind, record[name]);
  if (size - 4 > MAX_FRAME) throw new AgentdError('PAYLOAD_TOO_LARGE', `${msg.type} frame of ${size - 4} bytes exceeds MAX_FRAME`);
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32LE(size - 4, 0);
  buf.writeUInt8(spec.type, 4);
  let off = buf.writeUInt32LE(checkInt('id', msg.id, 0, 0xffffffff), 5);
  for (const [name, kind] of fields) off = writeField(buf, off, name, kind, record[name]);
  return off === size ? buf : buf.subarray(0, off);
}

// ---------------------------------------------------------------- decoding

/** Thrown inside the decoder only; turned into a ProtocolErrorEvent. */
class Malformed extends Error {}

class Reader {
  off = 0;
  constructor(readonly buf: Buffer) {}

  need(n: number): void {
    if (this.off + n > this.buf.length) throw new Malformed('payload too short');
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.off++);
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.off);
    this.off += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.off);
    this.off += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Malformed('u64 value out of range');
    return Number(v);
  }
  i64(): number {
    this.need(8);
    const v = this.buf.readBigInt64LE(this.off);
    this.off += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new Malformed('i64 value out of range');
    return Number(v);
  }
  bytes(): Buffer {
    const n = this.u32();
    this.need(n);
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  str(): string {
    const raw = this.bytes();
    if (raw.includes(0)) throw new Malformed('string contains a NUL byte');
    return raw.toString('utf8');
  }
  count(): number {
    const n = this.u32();
    if (n > MAX_LIST_ITEMS) throw new Malformed('too many list items');
    return n;
  }
}

function readField(r: Reader, kind: FieldKind): unknown {
  switch (kind) {
    case 'u8':
      return r.u8();
    case 'u32':
      return r.u32();
    case 'i32':
      return r.i32();
    case 'u64':
      return r.u64();
    case 'i64':
      return r.i64();
    case 'str':
      return r.str();
    case 'bytes':
      return r.bytes();
    case 'strs': {
      const n = r.count();
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(r.str());
      return out;
    }
    case 'entries': {
      const n = r.count();
      const out: WireDirEntry[] = [];
      for (let i = 0; i < n; i++) {
        const name = r.str();
        const kind = r.u8();
        checkKind(kind);
        out.push({ name, kind, mode: r.u32(), size: r.u64(), mtimeMs: r.i64() });
      }
      return out;
    }
    case 'wevents': {
      const n = r.u32();
      if (n > MAX_WATCH_BATCH) throw new Malformed(`more than ${MAX_WATCH_BATCH} watch events in one frame`);
      const out: WireWatchEvent[] = [];
      for (let i = 0; i < n; i++) {
        const kind = r.u8();
        if (kind < 1 || kind > 7) throw new Malformed(`watch event kind ${kind} out of range`);
        const dir = r.u8();
        checkFlag('dir', dir);
        out.push({ kind, dir, count: r.u64(), path: r.str(), to: r.str() });
      }
      return out;
    }
  }
}

function checkKind(kind: number): void {
  if (kind < 1 || kind > 4) throw new Malformed(`file kind ${kind} out of range`);
}

function checkPtySize(rows: number, cols: number): void {
  if (rows < 1 || cols < 1 || rows > MAX_PTY_DIM || cols > MAX_PTY_DIM) throw new Malformed(`terminal size ${rows}x${cols} out of range (1..${MAX_PTY_DIM})`);
}

function checkFlag(name: string, v: number): void {
  if (v > 1) throw new Malformed(`${name} must be 0 or 1, got ${v}`);
}

/** Value checks beyond the field types (ranges of enumerations, chunk sizes). */
function validate(msg: Message): void {
  switch (msg.type) {
    case 'STDOUT':
    case 'STDERR':
    case 'STDIN':
      if (msg.data.length > MAX_CHUNK) throw new Malformed('data chunk larger than MAX_CHUNK');
      break;
    case 'FS_DATA':
      checkFlag('eof', msg.eof);
      if (msg.data.length > MAX_CHUNK) throw new Malformed('data chunk larger than MAX_CHUNK');
      break;
    case 'FS_STAT_RESULT':
      checkKind(msg.kind);
      break;
    case 'FS_LIST_RESULT':
      checkFlag('more', msg.more);
      break;
    case 'NET_CONNECT':
      if (msg.port < 1 || msg.port > 65535) throw new Malformed(`port ${msg.port} out of range`);
      if (msg.token.length !== 16) throw new Malformed('token must be 16 bytes');
      break;
    case 'CREDIT':
      if (msg.stream !== 1 && msg.stream !== 2) throw new Malformed(`stream ${msg.stream} out of range`);
      break;
    case 'SIGNAL':
      if (msg.scope > 2) throw new Malformed(`scope ${msg.scope} out of range`);
      break;
    case 'FS_STAT':
      checkFlag('follow', msg.follow);
      break;
    case 'FS_MKDIR':
      checkFlag('parents', msg.parents);
      break;
    case 'FS_REMOVE':
      checkFlag('recursive', msg.recursive);
      break;
    case 'FS_RENAME':
      checkFlag('overwrite', msg.overwrite);
      break;
    case 'FS_READ':
      if (msg.limit > MAX_CHUNK) throw new Malformed('limit larger than MAX_CHUNK');
      break;
    case 'WATCH':
      checkFlag('recursive', msg.recursive);
      break;
    case 'WATCH_EVENT':
      if (msg.events.length === 0) throw new Malformed('WATCH_EVENT without events');
      for (const e of msg.events) {
        if (Buffer.byteLength(e.path) > MAX_WATCH_PATH || Buffer.byteLength(e.to) > MAX_WATCH_PATH) throw new Malformed('watch event path longer than PATH_MAX');
        if ((e.kind === WATCH_KIND.rename) !== (e.to !== '')) throw new Malformed('only a RENAME watch event has a `to` path, and it always has one');
      }
      break;
    case 'EXEC':
      if (msg.nice > MAX_NICE) throw new Malformed(`nice ${msg.nice} out of range (0..${MAX_NICE})`);
      if (msg.flags & EXEC_FLAGS.PTY) {
        if (msg.flags !== EXEC_FLAGS.PTY) throw new Malformed('PTY takes no other flag');
        checkPtySize(msg.rows, msg.cols);
      } else if (msg.rows !== 0 || msg.cols !== 0) throw new Malformed('rows and cols must be 0 without PTY');
      break;
    case 'RESIZE':
      checkPtySize(msg.rows, msg.cols);
      break;
    case 'PING':
    case 'SHUTDOWN':
    case 'FS_WRITE':
    case 'FS_LIST':
    case 'READY':
    case 'PONG':
    case 'OK':
    case 'ERROR':
    case 'STARTED':
    case 'EXIT':
    case 'FS_WRITTEN':
    case 'UNWATCH':
    case 'WATCH_CREDIT':
    case 'WATCH_END':
      break;
  }
}

function protocolError(id: number, fatal: boolean, message: string, details: Record<string, unknown> = {}): ProtocolErrorEvent {
  return { type: 'PROTOCOL_ERROR', id, fatal, error: new AgentdError('PROTOCOL_ERROR', `agentd-init protocol error: ${message}`, { details: { id, ...details } }) };
}

/**
 * Decodes the body of one frame (`type`, `id`, `payload`) into a message of the allowed
 * direction. Payload `bytes` fields are views into `payload` (no copy).
 */
export function decodeFrame<M extends Message>(allowed: ReadonlySet<MessageName>, type: number, id: number, payload: Buffer): M | ProtocolErrorEvent {
  const name = NAME_BY_TYPE.get(type);
  if (name === undefined || !allowed.has(name)) {
    return protocolError(id, false, `unexpected message type 0x${type.toString(16)}`, { type });
  }
  const r = new Reader(payload);
  const out: Record<string, unknown> = { type: name, id };
  try {
    for (const [field, kind] of MESSAGES[name].fields as readonly FieldSpec[]) out[field] = readField(r, kind);
    if (r.off !== payload.length) throw new Malformed(`${payload.length - r.off} trailing bytes`);
    validate(out as unknown as Message);
  } catch (err) {
    if (err instanceof Malformed) return protocolError(id, false, `${name}: ${err.message}`, { type });
    throw err;
  }
  return out as unknown as M;
}

const INIT_SET: ReadonlySet<MessageName> = new Set(INIT_MESSAGES);
/** Frame head of STDOUT/STDERR: length, type, id, then the data's u32 length. */
const OUTPUT_HEAD_BYTES = HEADER_BYTES + 4;
/** The most chunks an output frame is split over (more: copied into one, see FrameDecoder.takeOutput). */
const MAX_OUTPUT_SPLIT = 4;
const DAEMON_SET: ReadonlySet<MessageName> = new Set(DAEMON_MESSAGES);

/**
 * A streaming frame decoder: push byte chunks in, get whole decoded messages out.
 * A broken frame length is fatal (a PROTOCOL_ERROR with `fatal: true`, after which the
 * decoder ignores all further input); a bad frame body only spoils that frame.
 */
export class FrameDecoder<M extends Message = InitMessage> {
  private readonly allowed: ReadonlySet<MessageName>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private failed = false;

  private readonly splitOutput: boolean;

  /**
   * `from`: whose messages this decodes ('init' for the daemon side, 'daemon' for a test double of the init).
   * `splitOutput`: a STDOUT or STDERR frame that spans pushed chunks comes out as one message per
   * chunk it spans (same type and id, the data in order), views of the chunks instead of a copy.
   */
  constructor(from: 'init' | 'daemon' = 'init', opts: { splitOutput?: boolean } = {}) {
    this.allowed = from === 'init' ? INIT_SET : DAEMON_SET;
    this.splitOutput = opts.splitOutput === true;
  }

  /** true once a fatal framing error was seen. */
  get broken(): boolean {
    return this.failed;
  }

  /** Bytes received but not yet part of a complete frame. */
  get buffered(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer): Array<M | ProtocolErrorEvent> {
    const out: Array<M | ProtocolErrorEvent> = [];
    if (this.failed || chunk.length === 0) return out;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= 4) {
      const len = this.peekLength();
      if (len < 5 || len > MAX_FRAME) {
        this.failed = true;
        this.pending = [];
        this.pendingBytes = 0;
        out.push(protocolError(0, true, len < 5 ? `frame too short (len ${len})` : `frame too large (len ${len})`, { len }));
        return out;
      }
      if (this.pendingBytes < 4 + len) break;
      if (this.splitOutput && this.takeOutput(len, out)) continue;
      const frame = this.take(4 + len);
      out.push(decodeFrame<M>(this.allowed, frame.readUInt8(4), frame.readUInt32LE(5), frame.subarray(HEADER_BYTES)));
    }
    return out;
  }

  /** Whether the stream ended inside a frame (an early end is a protocol error for the caller). */
  get midFrame(): boolean {
    return this.pendingBytes > 0 && !this.failed;
  }

  /**
   * A whole STDOUT/STDERR frame (length `len`) that spans chunks, with its head (length,
   * type, id, data length) in the first: appended to `out` as one message per chunk, and
   * true. false (nothing taken) for any other frame, which the caller decodes as usual.
   */
  private takeOutput(len: number, out: Array<M | ProtocolErrorEvent>): boolean {
    const first = this.pending[0] as Buffer;
    if (first.length >= 4 + len || first.length < OUTPUT_HEAD_BYTES) return false;
    const type = first.readUInt8(4);
    const name = type === MSG.STDOUT ? 'STDOUT' : type === MSG.STDERR ? 'STDERR' : undefined;
    const size = first.readUInt32LE(HEADER_BYTES);
    if (name === undefined || !this.allowed.has(name) || size !== len - 9 || size > MAX_CHUNK) return false;
    // Spread over many small chunks (a trickling sender), one copy beats a message per chunk.
    let spans = 0;
    for (let have = 0; have < 4 + len; spans++) have += (this.pending[spans] as Buffer).length;
    if (spans > MAX_OUTPUT_SPLIT) return false;
    const id = first.readUInt32LE(5);
    this.pendingBytes -= OUTPUT_HEAD_BYTES + size;
    let left = size;
    let used = 0;
    for (let at = OUTPUT_HEAD_BYTES; left > 0; at = 0) {
      const piece = this.pending[used] as Buffer;
      const end = Math.min(piece.length, at + left);
      if (end > at) out.push({ type: name, id, data: piece.subarray(at, end) } as unknown as M);
      left -= end - at;
      if (end === piece.length) used++;
      else this.pending[used] = piece.subarray(end);
    }
    this.pending.splice(0, used);
    return true;
  }

  /** The little-endian u32 at the start of the buffered bytes (pendingBytes >= 4), without joining chunks. */
  private peekLength(): number {
    const first = this.pending[0] as Buffer;
    if (first.length >= 4) return first.readUInt32LE(0);
    const head = Buffer.allocUnsafe(4);
    let at = 0;
    for (const piece of this.pending) {
      at += piece.copy(head, at, 0, Math.min(piece.length, 4 - at));
      if (at === 4) break;
    }
    return head.readUInt32LE(0);
  }

  /**
   * The first n buffered bytes as one buffer (n <= pendingBytes). A frame inside one chunk
   * is a view of it; one that spans chunks is copied once into a buffer of its own size:
   * the bytes after it stay views of their chunk (joining everything pending would copy
   * the next frame's start again with every read it spans).
   */
  private take(n: number): Buffer {
    const first = this.pending[0] as Buffer;
    this.pendingBytes -= n;
    if (first.length >= n) {
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const frame = Buffer.allocUnsafe(n);
    let at = 0;
    let used = 0;
    while (at < n) {
      const piece = this.pending[used] as Buffer;
      const want = n - at;
      if (piece.length <= want) {
        piece.copy(frame, at);
        at += piece.length;
        used++;
      } else {
        piece.copy(frame, at, 0, want);
        this.pending[used] = piece.subarray(want);
        at = n;
      }
    }
    this.pending.splice(0, used);
    return frame;
  }
}
