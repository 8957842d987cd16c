/**
 * The daemon's front door (issue 9, items 3 and 8), attacked through a real daemon (namespace
 * backend, real bwrap): a sandboxed command reaching for the daemon over TCP and the Unix
 * socket; TCP callers without the local token; unauthenticated bodies that must not be read;
 * stalled requests that must be cut; metric labels from caller input.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './harness.js';

const DIAL_SRC = fileURLToPath(new URL('../fixtures/dial.c', import.meta.url));
const MiB = 1024 * 1024;

/** The `dial` fixture built static, as base64 (copied into each sandbox over exec stdin). */
async function buildDial(): Promise<{ b64: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'agentd-dial-'));
  const out = join(dir, 'dial');
  await promisify(execFile)('gcc', ['-static', '-O1', '-Wall', '-Wextra', '-Werror', '-o', out, DIAL_SRC]);
  return { b64: readFileSync(out).toString('base64'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A sandbox with the dial fixture at /workspace/dial. */
async function sandboxWithDial(d: TestDaemon, dialB64: string): Promise<string> {
  const created = await d.call('POST', '/v1/sandboxes', { body: {} });
  expect(created.status, created.text).toBe(201);
  const id = created.body.id as string;
  const put = await d.call('POST', `/v1/sandboxes/${id}/exec`, {
    body: { argv: ['sh', '-c', 'cat > /workspace/dial && chmod 755 /workspace/dial'], stdin: dialB64, stdin_encoding: 'base64' },
  });
  expect(put.body.exit_code, put.text).toBe(0);
  return id;
}

async function dial(d: TestDaemon, id: string, args: string[]): Promise<string> {
  const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['/workspace/dial', ...args], timeout_ms: 20_000 } });
  expect(r.status, r.text).toBe(200);
  return r.body.stdout as string;
}

const HOST_DIRECT_BODY = '{"backend":"host-direct"}';
const CREATE_HOST_DIRECT = `POST /v1/sandboxes HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${HOST_DIRECT_BODY.length}\r\n\r\n${HOST_DIRECT_BODY}`;

describe('a sandboxed command against the daemon', () => {
  let dialB64: string;
  let built: Awaited<ReturnType<typeof buildDial>> | undefined;
  beforeAll(async () => {
    built = await buildDial();
    dialB64 = built.b64;
  }, 60_000);
  afterAll(async () => built?.cleanup());

  test('with the host network (allowed when the config says so): TCP 127.0.0.1 answers 401, the socket and the token are out of reach', async () => {
    const d = await startTestDaemon({ sandbox: { network: 'host' } });
    try {
      const id = await sandboxWithDial(d, dialB64);
      const port = new URL(d.url).port;
      // The exploit of issue 9: create a host-direct sandbox over loopback, then run as root on the host.
      const tcp = await dial(d, id, ['tcp', '127.0.0.1', port, CREATE_HOST_DIRECT]);
      expect(tcp).toMatch(/^HTTP\/1\.1 401 /);
      expect(tcp).toContain('"code":"UNAUTHENTICATED"');
      expect((await d.call('GET', '/v1/sandboxes')).body.sandboxes.map((s: { backend: string }) => s.backend)).not.toContain('host-direct');
      // The socket path of the host is not in the sandbox's mount view.
      expect(await dial(d, id, ['unix', d.socket, 'GET /v1/sandboxes HTTP/1.0\r\n\r\n'])).toMatch(/^ERR (ENOENT|EACCES)\n$/);
      // Nor is the local token.
      expect(d.daemon.tokenFile).toBeDefined();
      expect(await dial(d, id, ['read', d.daemon.tokenFile!])).toMatch(/^ERR (ENOENT|EACCES)\n$/);
    } finally {
      await d.close();
    }
  }, 120_000);

  test('with the default network (none): 127.0.0.1 of the host is not reachable at all', async () => {
    const d = await startTestDaemon();
    try {
      expect(d.daemon.config.sandbox.network).toBe('none');
      const id = await sandboxWithDial(d, dialB64);
      const out = await dial(d, id, ['tcp', '127.0.0.1', new URL(d.url).port, CREATE_HOST_DIRECT]);
      expect(out).toMatch(/^ERR (ECONNREFUSED|ENETUNREACH)\n$/);
      expect(await dial(d, id, ['unix', d.socket, 'GET /v1/sandboxes HTTP/1.0\r\n\r\n'])).toMatch(/^ERR (ENOENT|EACCES)\n$/);
    } finally {
      await d.close();
    }
  }, 120_000);
});

describe('TCP demands a credential; the local token', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => d.close());

  test('a TCP caller without a credential gets 401, loopback or not; the token opens the door', async () => {
    const anon = await d.call('POST', '/v1/sandboxes', { body: { backend: 'host-direct' }, anonymous: true });
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe('UNAUTHENTICATED');
    expect((await d.call('GET', '/v1/sandboxes', { anonymous: true })).status).toBe(401);
    expect((await d.call('GET', '/v1/sandboxes')).status).toBe(200);
  });

  test('a wrong or stale local token is refused', async () => {
    const wrong = `agdt_${'A'.repeat(43)}`;
    const r = await d.call('GET', '/v1/sandboxes', { headers: { authorization: `Bearer ${wrong}` } });
    expect(r.status).toBe(401);
    expect(r.body.error.message).toContain('invalid local token');
    expect((await d.call('GET', '/v1/sandboxes', { headers: { authorization: 'Bearer agdt_short' } })).status).toBe(401);
  });

  test('the token file is owner-only, in the home, and its token is the one accepted', () => {
    const file = d.daemon.tokenFile!;
    expect(file).toBe(join(d.home, 'agentd.token'));
    const st = statSync(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid!());
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^agdt_[A-Za-z0-9_-]{43}$/);
  });

});

describe('the token lives as long as the daemon', () => {
  test('a new token at every start; the file goes at stop', async () => {
    const a = await startTestDaemon();
    const tokenA = readFileSync(a.daemon.tokenFile!, 'utf8').trim();
    const file = a.daemon.tokenFile!;
    await a.daemon.close();
    expect(() => statSync(file)).toThrow(/ENOENT/);
    await rm(a.home, { recursive: true, force: true });
    const b = await startTestDaemon();
    try {
      expect(readFileSync(b.daemon.tokenFile!, 'utf8').trim()).not.toBe(tokenA);
      expect((await b.call('GET', '/v1/sandboxes', { headers: { authorization: `Bearer ${tokenA}` } })).status).toBe(401);
    } finally {
      await b.close();
    }
  });
});

describe('allow-all', () => {
  test('serves only the owner-only Unix socket: TCP from loopback still gets 401', async () => {
    const d = await startTestDaemon({ auth: { providers: [{ type: 'allow-all' }] }, adapters: { unix: { mode: '0600' } } });
    try {
      expect(statSync(d.socket).mode & 0o777).toBe(0o600);
      const tcp = await d.call('GET', '/v1/sandboxes');
      expect(tcp.status).toBe(401);
      expect(tcp.body.error.code).toBe('UNAUTHENTICATED');
      expect((await d.call('GET', '/v1/sandboxes', { unix: true })).status).toBe(200);
    } finally {
      await d.close();
    }
  });

  test('a config asking for allow-all with a group-readable socket is refused', async () => {
    await expect(startTestDaemon({ auth: { providers: [{ type: 'allow-all' }] }, adapters: { unix: { mode: '0660' } } }))
      .rejects.toThrow(/with allow-all the socket must be owner-only/);
  });
});

/** Raw HTTP over TCP: writes `head` and `bodyBytes` of body, then waits for the server's answer or close. */
function rawExchange(url: string, head: string, bodyBytes: number, waitMs = 15_000): Promise<{ answer: string; closed: boolean; socket: Socket }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    let answer = '';
    let closed = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ answer, closed, socket });
    }, waitMs);
    socket.on('data', (c: Buffer) => {
      answer += c.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ answer, closed, socket });
    });
    socket.once('connect', () => {
      socket.write(head);
      if (bodyBytes > 0) socket.write(Buffer.alloc(bodyBytes, 0x61));
    });
    socket.once('error', reject);
  });
}

describe('authentication on the headers, before any body byte is read', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({
      auth: { providers: [{ type: 'local-token' }, { type: 'api-key' }, { type: 'signature' }] },
    });
  });
  afterAll(async () => d.close());

  const upload = (length: number, extra = ''): string =>
    `PUT /v1/sandboxes/sbx_nope/files?path=/workspace/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n${extra}Content-Length: ${length}\r\n\r\n`;

  test('8 unauthenticated 30 MiB uploads get 401 after 1 MiB of their bodies, and their connections close', async () => {
    const before = process.memoryUsage().rss;
    const answers = await Promise.all(Array.from({ length: 8 }, () => rawExchange(d.url, upload(30 * MiB), MiB)));
    for (const a of answers) {
      expect(a.answer).toMatch(/^HTTP\/1\.1 401 /);
      expect(a.answer).toContain('"code":"UNAUTHENTICATED"');
      expect(a.answer.toLowerCase()).toContain('connection: close');
      expect(a.closed).toBe(true);
    }
    // Nowhere near 8 x 30 MiB was read or held (the daemon runs in this process).
    expect(process.memoryUsage().rss - before).toBeLessThan(120 * MiB);
  }, 60_000);

  test('an unauthenticated body over the limit is 401, not 413 (nothing is weighed before the caller is known)', async () => {
    const a = await rawExchange(d.url, upload(40 * MiB), 0);
    expect(a.answer).toMatch(/^HTTP\/1\.1 401 /);
  });

  test('a bad API key is refused on its headers too', async () => {
    const a = await rawExchange(d.url, upload(30 * MiB, `Authorization: Bearer agd_0123456789abcdef_${'x'.repeat(43)}\r\n`), MiB);
    expect(a.answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(a.closed).toBe(true);
  });

  test('a signed request with an unknown key id is refused before its body', async () => {
    const headers = `X-Agentd-Key-Id: nobody\r\nX-Agentd-Timestamp: ${Date.now()}\r\nX-Agentd-Signature: ${Buffer.alloc(64).toString('base64')}\r\n`;
    const a = await rawExchange(d.url, upload(30 * MiB, headers), MiB);
    expect(a.answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(a.answer).toContain('invalid request signature');
    expect(a.closed).toBe(true);
  });

  test('an unknown route answers 404 before its body', async () => {
    const a = await rawExchange(d.url, `POST /v2/nothing HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${30 * MiB}\r\n\r\n`, MiB);
    expect(a.answer).toMatch(/^HTTP\/1\.1 404 /);
    expect(a.closed).toBe(true);
  });

  test('every failed authentication is audited, repeats folded into one counted row', async () => {
    const rows = () => d.daemon.store.audit.query({ limit: 1000 }).filter((e) => e.action === 'auth' && e.details.reason === 'no valid credentials were presented');
    const total = (rs: ReturnType<typeof rows>): number => rs.reduce((n, r) => n + Number(r.details.count), 0);
    const before = rows();
    for (let i = 0; i < 40; i++) expect((await d.call('GET', '/v1/sandboxes', { anonymous: true })).status).toBe(401);
    const after = rows();
    expect(total(after) - total(before)).toBe(40);
    // One row per source and reason per minute: none added, or one when the minute turned.
    expect(after.length - before.length).toBeLessThanOrEqual(1);
    expect(after[0]!.details).toMatchObject({ source: '127.0.0.1' });
    expect(after[0]!.code).toBe('UNAUTHENTICATED');
  });
});

describe('request timeouts', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ adapters: { http: { request_timeout_ms: 1000, headers_timeout_ms: 1000 } } });
  });
  afterAll(async () => d.close());

  test('an authenticated caller that stops half-way through its body is cut (408, connection closed)', async () => {
    const auth = Object.entries(d.authHeaders()).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const a = await rawExchange(d.url, `POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{`, 0);
    expect(a.closed).toBe(true);
    expect(a.answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  test('a caller that never finishes its headers is cut', async () => {
    const a = await rawExchange(d.url, 'GET /v1/sandboxes HTTP/1.1\r\nHost: x\r\n', 0);
    expect(a.closed).toBe(true);
  });

  test('the Unix socket has the same timeouts', async () => {
    const a = await new Promise<{ closed: boolean; answer: string }>((resolve) => {
      const s = connect(d.socket);
      let answer = '';
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ closed: false, answer });
      }, 15_000);
      s.on('data', (c: Buffer) => {
        answer += c.toString();
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ closed: true, answer });
      });
      s.once('connect', () => s.write('POST /v1/sandboxes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{'));
    });
    expect(a.closed).toBe(true);
  });
});

describe('metric labels only from known values', () => {
  test('an unknown capability name makes no new series: it counts as "unknown"', async () => {
    const d = await startTestDaemon();
    try {
      const names = Array.from({ length: 5 }, (_, i) => `evil.cap${i}${Math.random().toString(36).slice(2, 8)}`);
      for (const capability of names) {
        const r = await d.call('POST', '/v1/intents', { body: { capability, params: {} } });
        expect(r.body.code ?? r.body.error?.code).toBe('UNKNOWN_CAPABILITY');
      }
      const m = (await d.call('GET', '/metrics')).text;
      for (const n of names) expect(m).not.toContain(n);
      expect(m).toMatch(/agentd_intents_total\{capability="unknown",status="\w+",code="UNKNOWN_CAPABILITY"\} 5/);
    } finally {
      await d.close();
    }
  });
});
