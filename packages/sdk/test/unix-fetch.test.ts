import { afterEach, describe, expect, test } from 'vitest';
import { AgentdClient, NotFoundError, Sandbox } from '../src/index.js';
import { unixSocketFetch } from '../src/node.js';
import { sendError, sendJson, startServer, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function unixServer(handler: Parameters<typeof startServer>[0]): Promise<TestServer & { socketPath: string }> {
  const s = await startServer(handler, { unix: true });
  servers.push(s);
  if (s.socketPath === undefined) throw new Error('no socket');
  return s as TestServer & { socketPath: string };
}

describe('unixSocketFetch', () => {
  test('sends method, path with query, headers and body over the socket; reads status, headers and body', async () => {
    const s = await unixServer((req, res, body) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-multi': ['a', 'b'] });
      res.end(JSON.stringify({ method: req.method, url: req.url, got: body.toString('base64'), auth: req.headers.authorization }));
    });
    const f = unixSocketFetch(s.socketPath);
    const payload = new Uint8Array([0, 1, 2, 255, 254]);
    const res = await f('http://ignored.host/v1/files?path=%2Fa%20b&x=1', { method: 'PUT', headers: { authorization: 'Bearer t' }, body: payload });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-multi')).toBe('a, b');
    expect(await res.json()).toEqual({ method: 'PUT', url: '/v1/files?path=%2Fa%20b&x=1', got: Buffer.from(payload).toString('base64'), auth: 'Bearer t' });
  });

  test('streams the response body: the first chunk arrives before the server finishes', async () => {
    let finish: (() => void) | undefined;
    const s = await unixServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"type":"start","pid":1}\n');
      finish = () => res.end('{"type":"exit"}\n');
    });
    const res = await unixSocketFetch(s.socketPath)('http://x/stream', {});
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('{"type":"start","pid":1}\n');
    expect(finish).toBeDefined();
    finish?.();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toBe('{"type":"exit"}\n');
  });

  test('a 204 answer has a null body', async () => {
    const s = await unixServer((_req, res) => res.writeHead(204).end());
    const res = await unixSocketFetch(s.socketPath)('http://x/v1/sandboxes/a', { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
  });

  test('an abort breaks an ongoing body read', async () => {
    const s = await unixServer((_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const controller = new AbortController();
    const res = await unixSocketFetch(s.socketPath)('http://x/', { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await expect(reader.read()).rejects.toMatchObject({ name: 'AbortError' });
  });

  test('a missing socket fails like fetch does (TypeError with the cause)', async () => {
    const err = await unixSocketFetch('/nonexistent/agentd.sock')('http://x/', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(((err as Error).cause as { code?: string }).code).toBe('ENOENT');
  });

  test('drives the SDK: Sandbox.connect and an error envelope over the socket', async () => {
    const s = await unixServer((req, res) => {
      if (req.url === '/v1/sandboxes/sbx_1') sendJson(res, 200, { id: 'sbx_1', state: 'running', backend: 'namespace', profile: 'workstation', tenant: 't', labels: {}, created_at_ms: 5 });
      else sendError(res, 404, 'NOT_FOUND', 'no such sandbox');
    });
    const client = new AgentdClient({ baseUrl: 'http://localhost', fetch: unixSocketFetch(s.socketPath) });
    const sbx = await Sandbox.connect('sbx_1', { client });
    expect(sbx.info).toMatchObject({ id: 'sbx_1', state: 'running', createdAtMs: 5 });
    await expect(Sandbox.connect('sbx_2', { client })).rejects.toBeInstanceOf(NotFoundError);
  });
});
