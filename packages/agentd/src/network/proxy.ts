import { connect, type Socket } from 'node:net';
import { decide, type Decision, type RuleLayer } from './policy.js';
import type { Resolver } from './resolver.js';
import { MAX_HELLO_BYTES, scanClientHello } from './sni.js';
import { normalizeHost } from './rules.js';
import { nativeRelay } from './native-relay.js';

/**
 * The daemon's egress proxy for one sandbox connection (relayed byte for byte by the
 * sandbox's agentd-init from 127.0.0.1:<proxy_port> inside it). One port speaks all three:
 * the first byte 0x05 is SOCKS5 (CONNECT with a name or an address; no BIND, no UDP
 * ASSOCIATE), anything else HTTP/1.x (CONNECT host:port, or a plain request with an
 * absolute http:// URI whose Host header must name the same host). Every decision is
 * reported once, when the connection ends (`record`).
 */

export type EgressProtocol = 'connect' | 'http' | 'socks5';

export interface EgressEvent {
  protocol: EgressProtocol;
  host: string;
  port: number;
  decision: Decision;
  /** Bytes from the sandbox to the upstream, and back. */
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
}

export interface ProxyContext {
  /** The sandbox's rule layers now (read for each connection), or a decision refusing everything (mode). */
  layers(): readonly RuleLayer[] | Decision;
  resolver: Resolver;
  own(): ReadonlySet<string>;
  connectTimeoutMs: number;
  record(ev: EgressEvent): void;
  /** A refused address this host may still reach (network verify's probe names only). */
  exempt?: (host: string, address: string, port: number) => boolean;
}

const MAX_HEAD = 64 * 1024;
const HEAD_TIMEOUT_MS = 30_000;

/** Reads from `sock` until `done(buf)` says enough (or the cap/timeout hits). */
function readUntil(sock: Socket, first: Buffer, done: (b: Buffer) => boolean, cap: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let buf = first;
    if (done(buf)) return resolve(buf);
    const timer = setTimeout(() => finish(undefined), HEAD_TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (done(buf)) finish(buf);
      else if (buf.length > cap) finish(undefined);
    };
    const onEnd = (): void => finish(undefined);
    function finish(v: Buffer | undefined): void {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('close', onEnd);
      sock.pause();
      resolve(v);
    }
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('close', onEnd);
    sock.resume();
  });
}

function firstChunk(sock: Socket): Promise<Buffer | undefined> {
  return readUntil(sock, Buffer.alloc(0), (b) => b.length > 0, MAX_HEAD);
}

function connectUpstream(d: Decision, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const up = connect({ host: d.address, port, family: d.family, allowHalfOpen: true, noDelay: true });
    // Nothing is read from the upstream before the relay starts (the native relay reads it all).
    up.pause();
    const timer = setTimeout(() => up.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), timeoutMs);
    up.once('connect', () => {
      clearTimeout(timer);
      up.removeListener('error', reject);
      resolve(up);
    });
    up.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/**
 * Relays both ways (half-closes passed on) and reports once both sides are closed: in the
 * native relay's thread (splice, native-relay.ts) when it is built, else here in JavaScript.
 */
function relay(client: Socket, up: Socket, onEnd: (up: number, down: number) => void): void {
  if (nativeRelay(client, up, onEnd)) return;
  let closed = 0;
  const done = (): void => {
    if (++closed === 2) onEnd(up.bytesWritten, up.bytesRead);
  };
  client.on('error', () => up.destroy());
  up.on('error', () => client.destroy());
  client.once('close', () => {
    up.destroy();
    done();
  });
  up.once('close', () => {
    client.destroy();
    done();
  });
  client.pipe(up);
  up.pipe(client);
  client.resume();
}

export async function handleEgress(client: Socket, ctx: ProxyContext): Promise<void> {
  client.setNoDelay(true);
  client.on('error', () => undefined);
  const t0 = performance.now();
  const first = await firstChunk(client);
  if (!first) return void client.destroy();
  if (first[0] === 0x05) return socks5(client, first, ctx, t0);
  return http(client, first, ctx, t0);
}

async function decideFor(ctx: ProxyContext, host: string, port: number): Promise<Decision> {
  const layers = ctx.layers();
  if (!Array.isArray(layers)) return layers as Decision;
  return decide(layers as readonly RuleLayer[], host, port, ctx.resolver, ctx.own(), ctx.exempt);
}

function report(ctx: ProxyContext, protocol: EgressProtocol, host: string, port: number, decision: Decision, t0: number, up = 0, down = 0): void {
  ctx.record({ protocol, host: host.slice(0, 255), port, decision, bytesUp: up, bytesDown: down, durationMs: Math.round(performance.now() - t0) });
}

/**
 * After the tunnel is open: a TLS ClientHello must name the host the tunnel was asked for
 * (no domain fronting); a tunnel to an IP literal is checked the same way when it carries a
 * name. Non-TLS traffic passes.
 */
async function checkSni(client: Socket, host: string): Promise<{ ok: true; head: Buffer } | { ok: false; why: string }> {
  const head = await readUntil(client, Buffer.alloc(0), (b) => scanClientHello(b).kind !== 'need-more', MAX_HELLO_BYTES + 4096);
  if (!head) return { ok: false, why: 'the client closed or sent no ClientHello in time' };
  const scan = scanClientHello(head);
  if (scan.kind === 'not-tls') return { ok: true, head };
  if (scan.kind === 'malformed') return { ok: false, why: `malformed TLS ClientHello (${scan.why})` };
  if (scan.kind !== 'hello') return { ok: false, why: 'incomplete ClientHello' };
  const want = normalizeHost(host);
  if (scan.sni === undefined) return want === undefined ? { ok: true, head } : { ok: false, why: `TLS ClientHello without a server name for tunnel to ${host}` };
  const got = normalizeHost(scan.sni);
  if (got === undefined || got !== want) return { ok: false, why: `TLS server name '${scan.sni.slice(0, 100)}' differs from the tunnel's host '${host}'` };
  return { ok: true, head };
}

async function tunnel(client: Socket, ctx: ProxyContext, protocol: EgressProtocol, host: string, port: number, t0: number, reply: { ok(): void; refuse(d: Decision): void }): Promise<void> {
  const d = await decideFor(ctx, host, port);
  if (!d.allowed) {
    reply.refuse(d);
    report(ctx, protocol, host, port, d, t0);
    return;
  }
  let up: Socket;
  try {
    up = await connectUpstream(d, port, ctx.connectTimeoutMs);
  } catch (err) {
    const failed: Decision = { ...d, allowed: false, code: 'connect-failed', reason: `connect to ${d.address}:${port} failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    reply.refuse(failed);
    report(ctx, protocol, host, port, failed, t0);
    return;
  }
  reply.ok();
  const sni = await checkSni(client, host);
  if (!sni.ok) {
    up.destroy();
    client.destroy();
    report(ctx, protocol, host, port, { ...d, allowed: false, code: 'sni-mismatch', reason: sni.why }, t0);
    return;
  }
  // The ClientHello (or whatever came first) goes upstream first, by the relay like the rest.
  if (sni.head.length > 0) client.unshift(sni.head);
  relay(client, up, (u, dn) => report(ctx, protocol, host, port, d, t0, u, dn));
}

// ---------------------------------------------------------------- HTTP

function httpRefuse(client: Socket, status: number, text: string, d?: Decision): void {
  const why = (d?.reason ?? text).replace(/[\r\n]/g, ' ');
  const body = `agentd egress proxy: ${why}\n`;
  client.end(`HTTP/1.1 ${status} ${status === 403 ? 'Forbidden by agentd egress allowlist' : text}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Agentd-Egress: ${d?.code ?? 'bad-request'}\r\nConnection: close\r\n\r\n${body}`);
}

function splitHostPort(s: string, defPort: number): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(s);
  if (!m) return undefined;
  return { host: (m[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port: m[2] === undefined ? defPort : Number(m[2]) };
}

async function http(client: Socket, first: Buffer, ctx: ProxyContext, t0: number): Promise<void> {
  const buf = await readUntil(client, first, (b) => b.indexOf('\r\n\r\n') >= 0, MAX_HEAD);
  if (!buf) return void httpRefuse(client, 400, 'Bad Request', { allowed: false, code: 'bad-request', reason: 'no complete request head (64 KiB at most)' });
  const end = buf.indexOf('\r\n\r\n');
  const head = buf.subarray(0, end).toString('latin1');
  const rest = buf.subarray(end + 4);
  const [line = '', ...headerLines] = head.split('\r\n');
  const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(line);
  const bad = (why: string): void => {
    const d: Decision = { allowed: false, code: 'bad-request', reason: why };
    httpRefuse(client, 400, 'Bad Request', d);
    report(ctx, 'http', '', 0, d, t0);
  };
  if (!m) return bad('not an HTTP/1.x proxy request');
  const [, method = '', target = ''] = m;
  if (method === 'CONNECT') {
    const hp = splitHostPort(target, -1);
    if (!hp || hp.port < 1 || hp.port > 65535) return bad(`CONNECT needs host:port, got '${target.slice(0, 100)}'`);
    if (rest.length > 0) client.unshift(rest);
    return tunnel(client, ctx, 'connect', hp.host, hp.port, t0, {
      ok: () => void client.write('HTTP/1.1 200 Connection established\r\n\r\n'),
      refuse: (d) => httpRefuse(client, d.code === 'connect-failed' ? 502 : 403, d.code === 'connect-failed' ? 'Bad Gateway' : 'Forbidden', d),
    });
  }
  const u = /^http:\/\/([^/?#]+)([^#]*)$/i.exec(target);
  if (!u) return bad(target.startsWith('/') ? 'this is a proxy: send an absolute http:// URI (or CONNECT for https)' : `only http:// URIs (CONNECT for TLS), got '${target.slice(0, 100)}'`);
  const authority = u[1] ?? '';
  if (authority.includes('@')) return bad('credentials in the URI are not accepted');
  const hp = splitHostPort(authority, 80);
  if (!hp || hp.port < 1 || hp.port > 65535) return bad(`bad authority '${authority.slice(0, 100)}'`);
  const headers: string[] = [];
  let hostHeader: string | undefined;
  for (const h of headerLines) {
    const i = h.indexOf(':');
    if (i <= 0) return bad('malformed header line');
    const name = h.slice(0, i).trim().toLowerCase();
    const value = h.slice(i + 1).trim();
    if (name === 'host') {
      if (hostHeader !== undefined) return bad('two Host headers');
      hostHeader = value;
    }
    if (name === 'proxy-connection' || name === 'proxy-authorization' || name === 'connection' || name === 'keep-alive') continue;
    headers.push(h);
  }
  const hh = hostHeader === undefined ? undefined : splitHostPort(hostHeader, 80);
  if (!hh || hh.host.toLowerCase() !== hp.host.toLowerCase() || hh.port !== hp.port) {
    return bad(`the Host header '${(hostHeader ?? '').slice(0, 100)}' must name the URI's host ${authority.slice(0, 100)}`);
  }
  const path = u[2] === '' ? '/' : (u[2] ?? '/');
  const d = await decideFor(ctx, hp.host, hp.port);
  if (!d.allowed) {
    httpRefuse(client, 403, 'Forbidden', d);
    report(ctx, 'http', hp.host, hp.port, d, t0);
    return;
  }
  let up: Socket;
  try {
    up = await connectUpstream(d, hp.port, ctx.connectTimeoutMs);
  } catch (err) {
    const failed: Decision = { ...d, allowed: false, code: 'connect-failed', reason: `connect to ${d.address}:${hp.port} failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    httpRefuse(client, 502, 'Bad Gateway', failed);
    report(ctx, 'http', hp.host, hp.port, failed, t0);
    return;
  }
  // One request per upstream connection: the next request (maybe for another host) comes on a new one.
  // The rewritten head, then what followed it, go upstream first, by the relay like the rest.
  const reqHead = Buffer.from(`${method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\nConnection: close\r\n\r\n`, 'latin1');
  client.unshift(rest.length > 0 ? Buffer.concat([reqHead, rest]) : reqHead);
  relay(client, up, (a, b) => report(ctx, 'http', hp.host, hp.port, d, t0, a, b));
}

// ---------------------------------------------------------------- SOCKS5 (RFC 1928)

const SOCKS_REP = { ok: 0, fail: 1, notAllowed: 2, hostUnreachable: 4, refused: 5, cmdUnsupported: 7, atypUnsupported: 8 } as const;

function socksReply(client: Socket, rep: number, end: boolean): void {
  const b = Buffer.from([5, rep, 0, 1, 0, 0, 0, 0, 0, 0]);
  if (end) client.end(b);
  else client.write(b);
}

async function socks5(client: Socket, first: Buffer, ctx: ProxyContext, t0: number): Promise<void> {
  const bad = (why: string, rep: number = SOCKS_REP.fail): void => {
    socksReply(client, rep, true);
    report(ctx, 'socks5', '', 0, { allowed: false, code: 'bad-request', reason: why }, t0);
  };
  const greet = await readUntil(client, first, (b) => b.length >= 2 && b.length >= 2 + (b[1] ?? 0), 260);
  if (!greet) return void client.destroy();
  const nMethods = greet[1] ?? 0;
  const methods = greet.subarray(2, 2 + nMethods);
  if (!methods.includes(0)) {
    client.end(Buffer.from([5, 0xff]));
    report(ctx, 'socks5', '', 0, { allowed: false, code: 'bad-request', reason: 'SOCKS5 client offers no "no authentication" method' }, t0);
    return;
  }
  client.write(Buffer.from([5, 0]));
  const reqComplete = (b: Buffer): boolean => {
    if (b.length < 5) return false;
    const atyp = b[3];
    const len = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + (b[4] ?? 0) : 0;
    return b.length >= 4 + len + 2;
  };
  const req = await readUntil(client, greet.subarray(2 + nMethods), reqComplete, 600);
  if (!req) return void client.destroy();
  if (req[0] !== 5) return bad('bad SOCKS version in request');
  if (req[1] !== 1) return bad(`SOCKS5 command ${req[1] ?? 0} is not supported (only CONNECT: no BIND, no UDP ASSOCIATE)`, SOCKS_REP.cmdUnsupported);
  const atyp = req[3];
  let host: string;
  let p: number;
  if (atyp === 1) {
    host = [...req.subarray(4, 8)].join('.');
    p = 8;
  } else if (atyp === 4) {
    const parts: string[] = [];
    for (let i = 0; i < 8; i++) parts.push(req.readUInt16BE(4 + 2 * i).toString(16));
    host = parts.join(':');
    p = 20;
  } else if (atyp === 3) {
    const n = req[4] ?? 0;
    host = req.subarray(5, 5 + n).toString('latin1');
    p = 5 + n;
  } else {
    return bad(`SOCKS5 address type ${atyp ?? 0} is not supported`, SOCKS_REP.atypUnsupported);
  }
  const port = req.readUInt16BE(p);
  const extra = req.subarray(p + 2);
  if (extra.length > 0) client.unshift(extra);
  return tunnel(client, ctx, 'socks5', host, port, t0, {
    ok: () => socksReply(client, SOCKS_REP.ok, false),
    refuse: (d) => socksReply(client, d.code === 'connect-failed' ? SOCKS_REP.refused : SOCKS_REP.notAllowed, true),
  });
}
