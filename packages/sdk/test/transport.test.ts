import { afterEach, describe, expect, test } from 'vitest';
import {
  AgentdClient,
  AuthenticationError,
  CancelledError,
  HttpTransport,
  InternalError,
  NotFoundError,
  ProtocolError,
  ResourceExhaustedError,
  TimeoutError,
  UnavailableError,
  errorFromBody,
} from '../src/index.js';
import { backoffDelay, isRetrySafe } from '../src/retry.js';
import { sendError, sendJson, startServer, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

const fastRetry = { maxRetries: 3, baseDelayMs: 5, maxDelayMs: 1000, random: () => 0.5 };

describe('errorFromBody', () => {
  test('maps the envelope code to its class and keeps message, details and retry_after_ms', () => {
    const err = errorFromBody({ error: { code: 'NOT_FOUND', message: 'no sandbox sbx_1', details: { id: 'sbx_1' }, retryable: false, retry_after_ms: 9 } }, 404);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ code: 'NOT_FOUND', message: 'no sandbox sbx_1', details: { id: 'sbx_1' }, retryAfterMs: 9, status: 404 });
  });

  test('an unknown code (a newer daemon) becomes INTERNAL and keeps the original code', () => {
    const err = errorFromBody({ error: { code: 'BRAND_NEW', message: 'm' } });
    expect(err).toBeInstanceOf(InternalError);
    expect(err.details.code).toBe('BRAND_NEW');
  });

  test('a body that is no envelope is a ProtocolError', () => {
    expect(errorFromBody({ nope: 1 }, 500)).toBeInstanceOf(ProtocolError);
  });
});

describe('HttpTransport', () => {
  test('sends the API key as a bearer token and the headers hook on every request', async () => {
    const s = await server((_req, res) => sendJson(res, 200, { ok: true }));
    let calls = 0;
    const t = new HttpTransport({ baseUrl: s.url, apiKey: 'ak_secret', headers: () => ({ 'x-hook': String(++calls) }) });
    await t.json({ method: 'GET', path: '/v1/x' });
    await t.json({ method: 'GET', path: '/v1/x' });
    expect(s.requests.map((r) => [r.headers.authorization, r.headers['x-hook']])).toEqual([
      ['Bearer ak_secret', '1'],
      ['Bearer ak_secret', '2'],
    ]);
  });

  test('an error answer without an envelope is mapped from its HTTP status', async () => {
    const s = await server((_req, res) => {
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('go away');
    });
    const err = await new HttpTransport({ baseUrl: s.url }).json({ method: 'GET', path: '/' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as Error).message).toContain('go away');
  });

  test('retries a GET on UNAVAILABLE, honoring retry_after_ms, then succeeds', async () => {
    const s = await server((_req, res, _body, i) => {
      if (i < 2) sendError(res, 503, 'UNAVAILABLE', 'starting', { retryable: true, retry_after_ms: 150 });
      else sendJson(res, 200, { n: i });
    });
    const started = performance.now();
    const answer = await new HttpTransport({ baseUrl: s.url, retry: fastRetry }).json({ method: 'GET', path: '/v1/sandboxes' });
    expect(answer).toEqual({ n: 2 });
    expect(s.requests).toHaveLength(3);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  test('honors a Retry-After header on RESOURCE_EXHAUSTED for a DELETE', async () => {
    const s = await server((_req, res, _body, i) => {
      if (i === 0) {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0.2' });
        res.end(JSON.stringify({ error: { code: 'RESOURCE_EXHAUSTED', message: 'slow down', details: {}, retryable: true } }));
      } else res.writeHead(204).end();
    });
    const started = performance.now();
    await new HttpTransport({ baseUrl: s.url, retry: fastRetry }).json({ method: 'DELETE', path: '/v1/sandboxes/a' });
    expect(s.requests.map((r) => r.method)).toEqual(['DELETE', 'DELETE']);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
  });

  test('never retries a POST without an Idempotency-Key', async () => {
    const s = await server((_req, res) => sendError(res, 503, 'UNAVAILABLE', 'busy', { retryable: true }));
    const err = await new HttpTransport({ baseUrl: s.url, retry: fastRetry })
      .json({ method: 'POST', path: '/v1/sandboxes/a/exec', json: { command: 'true' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(s.requests).toHaveLength(1);
  });

  test('retries a POST that carries an Idempotency-Key, sending the same key and body each time', async () => {
    const s = await server((_req, res, _body, i) => (i === 0 ? sendError(res, 503, 'UNAVAILABLE', 'busy') : sendJson(res, 200, { done: true })));
    await new HttpTransport({ baseUrl: s.url, retry: fastRetry }).json({ method: 'POST', path: '/v1/intents', json: { capability: 'shell.exec' }, idempotencyKey: 'k-1' });
    expect(s.requests.map((r) => [r.headers['idempotency-key'], r.body.toString()])).toEqual([
      ['k-1', '{"capability":"shell.exec"}'],
      ['k-1', '{"capability":"shell.exec"}'],
    ]);
  });

  test('with an Idempotency-Key, retries a 409 that says the first request is still in flight', async () => {
    const s = await server((_req, res, _body, i) => {
      if (i === 0) sendError(res, 409, 'CONFLICT', 'still running', { details: { in_flight: true } });
      else sendJson(res, 200, { first: 'answer' });
    });
    const t = new HttpTransport({ baseUrl: s.url, retry: fastRetry });
    expect(await t.json({ method: 'POST', path: '/v1/intents', json: {}, idempotencyKey: 'k' })).toEqual({ first: 'answer' });
    expect(s.requests).toHaveLength(2);
    const plain = await server((_req, res) => sendError(res, 409, 'CONFLICT', 'other request with that key'));
    await expect(new HttpTransport({ baseUrl: plain.url, retry: fastRetry }).json({ method: 'POST', path: '/v1/intents', json: {}, idempotencyKey: 'k' })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(plain.requests).toHaveLength(1);
  });

  test('does not retry codes that are not transient', async () => {
    const s = await server((_req, res) => sendError(res, 404, 'NOT_FOUND', 'gone'));
    await expect(new HttpTransport({ baseUrl: s.url, retry: fastRetry }).json({ method: 'GET', path: '/' })).rejects.toBeInstanceOf(NotFoundError);
    expect(s.requests).toHaveLength(1);
  });

  test('gives up after maxRetries and throws the last error', async () => {
    const s = await server((_req, res) => sendError(res, 429, 'RESOURCE_EXHAUSTED', 'full'));
    await expect(new HttpTransport({ baseUrl: s.url, retry: { ...fastRetry, maxRetries: 2 } }).json({ method: 'GET', path: '/' })).rejects.toBeInstanceOf(ResourceExhaustedError);
    expect(s.requests).toHaveLength(3);
  });

  test('retries a GET after the connection drops, and reports an unreachable daemon as UNAVAILABLE', async () => {
    const s = await server((req, res, _body, i) => {
      if (i === 0) req.socket.destroy();
      else sendJson(res, 200, { ok: 1 });
    });
    expect(await new HttpTransport({ baseUrl: s.url, retry: fastRetry }).json({ method: 'GET', path: '/' })).toEqual({ ok: 1 });
    expect(s.requests).toHaveLength(2);
    const closed = await server(() => undefined);
    const deadUrl = closed.url;
    await closed.close();
    const err = await new HttpTransport({ baseUrl: deadUrl, retry: { ...fastRetry, maxRetries: 1 } }).json({ method: 'GET', path: '/' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toContain('ECONNREFUSED');
  });

  test('an abort during the backoff ends the call at once with CancelledError', async () => {
    const s = await server((_req, res) => sendError(res, 503, 'UNAVAILABLE', 'busy', { retry_after_ms: 5000 }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    const err = await new HttpTransport({ baseUrl: s.url, retry: { ...fastRetry, maxDelayMs: 10_000 } })
      .json({ method: 'GET', path: '/', signal: controller.signal })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(s.requests).toHaveLength(1);
  });

  test('an AbortSignal.timeout on a slow answer is a TimeoutError', async () => {
    const s = await server((_req, res) => {
      setTimeout(() => sendJson(res, 200, {}), 3000);
    });
    const err = await new HttpTransport({ baseUrl: s.url }).json({ method: 'GET', path: '/', signal: AbortSignal.timeout(100) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
  });
});

describe('retry policy', () => {
  test('only reads, deletes and idempotency-keyed requests are safe', () => {
    expect([isRetrySafe('GET', false), isRetrySafe('DELETE', false), isRetrySafe('POST', false), isRetrySafe('PUT', false), isRetrySafe('POST', true)]).toEqual([
      true,
      true,
      false,
      false,
      true,
    ]);
  });

  test('backoff doubles with jitter and is capped; retry_after_ms wins but is capped too', () => {
    const policy = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1000, random: () => 1 };
    expect([0, 1, 2, 3, 4].map((a) => backoffDelay(a, policy))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(0, { ...policy, random: () => 0 })).toBe(50);
    expect(backoffDelay(3, policy, 30)).toBe(30);
    expect(backoffDelay(0, policy, 60_000)).toBe(1000);
  });
});

describe('client defaults', () => {
  test('baseUrl comes from AGENTD_URL, else 127.0.0.1:7070', () => {
    const saved = process.env.AGENTD_URL;
    try {
      delete process.env.AGENTD_URL;
      expect(new AgentdClient().baseUrl).toBe('http://127.0.0.1:7070');
      process.env.AGENTD_URL = 'http://10.1.2.3:9/';
      expect(new AgentdClient().baseUrl).toBe('http://10.1.2.3:9');
      expect(new AgentdClient({ baseUrl: 'http://x:1' }).baseUrl).toBe('http://x:1');
    } finally {
      if (saved === undefined) delete process.env.AGENTD_URL;
      else process.env.AGENTD_URL = saved;
    }
  });
});
