import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon, type Daemon, type StartDaemonOptions } from '../../src/runtime/daemon.js';

export interface TestDaemon {
  daemon: Daemon;
  home: string;
  url: string;
  socket: string;
  /** JSON request over TCP (or the Unix socket with `unix: true`); answers status, headers, parsed JSON (or text). */
  call(method: string, path: string, opts?: CallOptions): Promise<Answer>;
  /** The credential `call` sends (the local token), for requests made by hand; {} when the daemon has no local token. */
  authHeaders(): Record<string, string>;
  close(): Promise<void>;
}

export interface CallOptions {
  body?: unknown;
  raw?: Buffer | string;
  contentType?: string;
  headers?: Record<string, string>;
  unix?: boolean;
  /** Send no credential: by default `call` sends the daemon's local token (as the CLI and SDK do) unless the headers carry one. */
  anonymous?: boolean;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are free-form JSON, checked by expect()
  body: any;
  text: string;
  bytes: Buffer;
}

/** A raw HTTP request over TCP or the Unix socket (node:http, so the socket path works too). */
export function rawCall(target: { url?: string; socket?: string }, method: string, path: string, opts: CallOptions = {}): Promise<Answer> {
  const payload = opts.raw !== undefined ? Buffer.from(opts.raw) : opts.body !== undefined ? Buffer.from(JSON.stringify(opts.body)) : undefined;
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (payload !== undefined) {
    headers['content-type'] ??= opts.contentType ?? (opts.raw !== undefined ? 'application/octet-stream' : 'application/json');
    headers['content-length'] = String(payload.length);
  }
  const u = target.url ? new URL(target.url) : undefined;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { method, path, headers, ...(target.socket ? { socketPath: target.socket } : { host: u?.hostname, port: u?.port }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          const text = bytes.toString('utf8');
          let body: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('application/json') && text.length > 0) body = JSON.parse(text);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, bytes });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** rawCall with the local token of the daemon whose home this is, read at each call (as the CLI does). */
export function localCall(home: string, url: string): (method: string, path: string, opts?: CallOptions) => Promise<Answer> {
  return (method, path, o = {}) => {
    let token = '';
    try {
      token = readFileSync(join(home, 'agentd.token'), 'utf8').trim();
    } catch {
      // no token file: the call goes without one
    }
    const headers = o.anonymous === true || token === '' ? (o.headers ?? {}) : { authorization: `Bearer ${token}`, ...(o.headers ?? {}) };
    return rawCall({ url }, method, path, { ...o, headers });
  };
}

export type ConfigOverrides = Record<string, unknown>;

/** Starts a real daemon on 127.0.0.1:0 and a Unix socket in a fresh home, with the given config values over the workstation preset. */
export async function startTestDaemon(overrides: ConfigOverrides = {}, opts: StartDaemonOptions & { freshHome?: boolean } = {}): Promise<TestDaemon> {
  let home: string;
  if (opts.freshHome) {
    // A home that does not exist yet: the daemon creates it.
    home = join(tmpdir(), `agentd-fresh-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  } else {
    home = await mkdtemp(join(tmpdir(), 'agentd-daemon-'));
    // The namespace backend runs sandboxes as an unprivileged host uid that must traverse the home.
    await chmod(home, 0o711);
  }
  const socket = join(home, 'agentd.sock');
  const base: Record<string, unknown> = {
    home,
    // A cgroup parent of its own: start-up recovery removes every sandbox group under the
    // parent, which must never hit sandboxes of other tests running at the same time.
    isolation: { backend: 'namespace', backends: { namespace: { cgroup_parent: `agentd-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}` } } },
    adapters: { http: { listen: '127.0.0.1:0' }, unix: { path: socket, mode: '0660' } },
    ...overrides,
  };
  const config = parseConfig(deepMerge(base, overrides), {}, {});
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, { sweepIntervalMs: 100, stopGraceMs: 1000, ...opts });
  } catch (err) {
    await rm(home, { recursive: true, force: true });
    throw err;
  }
  const url = daemon.address ?? '';
  return {
    daemon,
    home,
    url,
    socket,
    call: (method, path, o = {}) => rawCall(o.unix ? { socket } : { url }, method, path, withLocalToken(daemon, o)),
    authHeaders: () => withLocalToken(daemon, {}).headers ?? {},
    async close() {
      await daemon.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** Adds the daemon's local token (what the CLI and the SDK send by themselves) unless the call brings its own credential. */
function withLocalToken(daemon: Daemon, o: CallOptions): CallOptions {
  const h = o.headers ?? {};
  const own = Object.keys(h).some((k) => ['authorization', 'x-agentd-signature', 'x-agentd-key-id'].includes(k.toLowerCase()));
  if (o.anonymous === true || own || daemon.tokenFile === undefined) return o;
  const token = readFileSync(daemon.tokenFile, 'utf8').trim();
  return { ...o, headers: { ...h, authorization: `Bearer ${token}` } };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && prev !== null && typeof prev === 'object' && !Array.isArray(prev)
      ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

/** One NDJSON exec frame (docs/api.md). */
export interface Frame {
  type: string;
  pid?: number;
  data?: string;
  exit_code?: number | null;
  timed_out?: boolean;
  error?: { code: string };
  [k: string]: unknown;
}

/** NDJSON lines of a streamed answer, parsed. */
export function ndjson(text: string): Frame[] {
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Frame);
}

/**
 * Binary exec frames of a streamed answer (docs/api.md): kind (0 JSON, 1 stdout, 2 stderr),
 * u32 big-endian length, payload. Output frames come back as `{type, bytes}`; throws on a
 * frame cut short.
 */
export function binaryFrames(bytes: Buffer): Array<Frame & { bytes?: Buffer }> {
  const out: Array<Frame & { bytes?: Buffer }> = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 5 > bytes.length) throw new Error(`a frame header cut short at byte ${at}`);
    const kind = bytes.readUInt8(at);
    const length = bytes.readUInt32BE(at + 1);
    const payload = bytes.subarray(at + 5, at + 5 + length);
    if (payload.length !== length) throw new Error(`a frame payload cut short at byte ${at}`);
    if (kind === 0) out.push(JSON.parse(payload.toString('utf8')) as Frame);
    else if (kind === 1 || kind === 2) out.push({ type: kind === 1 ? 'stdout' : 'stderr', bytes: payload });
    else throw new Error(`unknown frame kind ${kind}`);
    at += 5 + length;
  }
  return out;
}
