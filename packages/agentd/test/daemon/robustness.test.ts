import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from './harness.js';

/** Hostile input: every bad request gets a 4xx with a stable code, and the daemon stays up. */
describe('malformed input (real daemon)', () => {
  let d: TestDaemon;
  let sbx: string;
  beforeAll(async () => {
    d = await startTestDaemon({ adapters: { http: { body_limit_bytes: 64 * 1024 } } });
    sbx = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id;
  });
  afterAll(async () => {
    await d?.close();
  });

  const cases = (): Array<{ name: string; method: string; path: string; raw?: string | Buffer; body?: unknown; contentType?: string; code: string; status: number }> => [
    { name: 'malformed JSON', method: 'POST', path: '/v1/sandboxes', raw: '{"labels": {', contentType: 'application/json', code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'JSON array body', method: 'POST', path: '/v1/sandboxes', raw: '[1,2]', contentType: 'application/json', code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'JSON null body', method: 'POST', path: `/v1/sandboxes/${sbx}/exec`, raw: 'null', contentType: 'application/json', code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'not JSON content type', method: 'POST', path: `/v1/sandboxes/${sbx}/exec`, raw: 'argv=true', contentType: 'text/plain', code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'unknown field', method: 'POST', path: `/v1/sandboxes/${sbx}/exec`, body: { argv: ['true'], sudo: true }, code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'wrong type', method: 'POST', path: `/v1/sandboxes/${sbx}/exec`, body: { argv: 'true' }, code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'wrong nested type', method: 'POST', path: '/v1/sandboxes', body: { limits: { pids: -1 } }, code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'NUL in path', method: 'POST', path: `/v1/sandboxes/${sbx}/files/mkdir`, body: { path: 'a\u0000b' }, code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'oversized body', method: 'POST', path: `/v1/sandboxes/${sbx}/exec`, body: { command: 'x'.repeat(100 * 1024) }, code: 'PAYLOAD_TOO_LARGE', status: 413 },
    { name: 'oversized upload', method: 'PUT', path: `/v1/sandboxes/${sbx}/files?path=big`, raw: Buffer.alloc(200 * 1024), code: 'PAYLOAD_TOO_LARGE', status: 413 },
    { name: 'deeply nested JSON', method: 'POST', path: '/v1/intents', raw: `${'['.repeat(5000)}${']'.repeat(5000)}`, contentType: 'application/json', code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'huge number', method: 'POST', path: `/v1/sandboxes/${sbx}/exec`, body: { argv: ['true'], timeout_ms: 1e308 }, code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'bad query', method: 'GET', path: `/v1/sandboxes/${sbx}/files?path=x&offset=-1`, code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'prototype pollution key', method: 'POST', path: '/v1/sandboxes', raw: '{"__proto__": {"admin": true}}', contentType: 'application/json', code: 'INVALID_ARGUMENT', status: 400 },
    { name: 'unknown route', method: 'PATCH', path: '/v1/sandboxes', code: 'NOT_FOUND', status: 404 },
  ];

  it('a few hundred bad requests each get a 4xx with a code; /healthz still answers', async () => {
    let sent = 0;
    for (let round = 0; round < 20; round++) {
      await Promise.all(
        cases().map(async (c) => {
          const r = await d.call(c.method, c.path, { ...(c.raw !== undefined ? { raw: c.raw } : {}), ...(c.body !== undefined ? { body: c.body } : {}), ...(c.contentType ? { contentType: c.contentType } : {}) });
          sent++;
          expect(r.status, c.name).toBe(c.status);
          expect(r.body?.error?.code, `${c.name}: ${r.text.slice(0, 200)}`).toBe(c.code);
        }),
      );
    }
    expect(sent).toBeGreaterThanOrEqual(300);
    expect((await d.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    expect((await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['echo', 'alive'] } })).body.stdout).toBe('alive\n');
  });

  it('garbage bytes on the raw socket do not take the daemon down', async () => {
    const u = new URL(d.url);
    for (const junk of ['\x00\x01\x02 not http\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n', 'POST /v1/sandboxes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']) {
      await new Promise<void>((resolve) => {
        const s = connect(Number(u.port), u.hostname, () => s.end(junk));
        s.on('data', () => undefined);
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        s.setTimeout(3000, () => s.destroy());
      });
    }
    expect((await d.call('GET', '/healthz')).status).toBe(200);
  });
});

describe('a fresh home', () => {
  it('is created by the daemon so that namespace sandboxes can run in it (state.db stays private)', async () => {
    const d = await startTestDaemon({}, { freshHome: true });
    try {
      const { stat } = await import('node:fs/promises');
      expect((await stat(d.home)).mode & 0o777).toBe(0o711);
      expect((await stat(`${d.home}/state.db`)).mode & 0o777).toBe(0o600);
      const c = await d.call('POST', '/v1/sandboxes', { body: {} });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      expect((await d.call('POST', `/v1/sandboxes/${c.body.id}/exec`, { body: { argv: ['echo', 'ok'] } })).body.stdout).toBe('ok\n');
    } finally {
      await d.close();
    }
  });
});

describe('limits.max_request_bytes (real daemon)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    // The HTTP body limit is larger: the intent size limit is the one that must bite, on both listeners.
    d = await startTestDaemon({ adapters: { http: { body_limit_bytes: 1024 * 1024 } }, limits: { max_request_bytes: 32 * 1024 } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('refuses an intent larger than the limit with 413 over TCP and the Unix socket, and takes one just under it', async () => {
    const intent = (size: number): unknown => ({ capability: 'shell.exec.v1', params: { argv: ['true'], env: { PAD: 'x'.repeat(size) } } });
    for (const unix of [false, true]) {
      const big = await d.call('POST', '/v1/intents', { body: intent(40 * 1024), unix });
      expect([big.status, big.body?.error?.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
      const small = await d.call('POST', '/v1/intents', { body: intent(16 * 1024), unix });
      expect(small.body.status, JSON.stringify(small.body)).toBe('ok');
    }
  });
});
