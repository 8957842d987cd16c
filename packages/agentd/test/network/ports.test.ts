import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { startTestDaemon } from '../daemon/harness.js';
import { createSandbox, run } from './fixtures.js';

/** A small HTTP + WebSocket-upgrade server for inside the sandbox (python3 standard library only). */
const SERVER = String.raw`
import socket, sys, threading, hashlib, base64
port = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', port)); s.listen(16)
def serve(c):
    h = b''
    while b'\r\n\r\n' not in h:
        d = c.recv(4096)
        if not d: return c.close()
        h += d
    head = h.decode('latin1'); line = head.split('\r\n')[0]
    hdr = {l.split(':', 1)[0].lower(): l.split(':', 1)[1].strip() for l in head.split('\r\n')[1:] if ':' in l}
    if hdr.get('upgrade', '').lower() == 'websocket':
        acc = base64.b64encode(hashlib.sha1((hdr['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()
        c.sendall(('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' % acc).encode())
        while True:
            d = c.recv(65536)
            if not d: break
            c.sendall(d)
        return c.close()
    body = ('inside %s auth=%s\n' % (line, hdr.get('authorization', '-'))).encode()
    c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n' % len(body) + body); c.close()
print('listening', flush=True)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw WebSocket-style upgrade and echo over the connection (bytes pass through untouched). */
function upgradeEcho(port: number, path: string, payload: string, extra = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    let upgraded = false;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!upgraded && buf.includes('\r\n\r\n')) {
        upgraded = true;
        if (!buf.startsWith('HTTP/1.1 101')) return reject(new Error(buf));
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        s.write(payload);
      }
      if (upgraded && buf.length >= payload.length) {
        s.destroy();
        resolve(buf);
      }
    });
    s.on('error', reject);
    s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

describe('ports exposed from a network none sandbox', () => {
  let d: TestDaemon;
  let id: string;
  beforeAll(async () => {
    d = await startTestDaemon({});
    id = await createSandbox(d, { network: 'none', ports: ['8080'] });
    // The server runs in the background for the whole file (the exec is not waited for).
    d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['python3', '-c', SERVER, '8080'], timeout_ms: 120_000 } }).catch(() => undefined);
    for (let i = 0; i < 50; i++) {
      const r = await run(d, id, ['python3', '-c', "import socket; socket.create_connection(('127.0.0.1', 8080)).close()"]);
      if (r.code === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  }, 60_000);
  afterAll(async () => {
    await d?.close();
  });

  it('a port asked at create is reachable on the host loopback (HTTP and an upgraded connection)', async () => {
    const list = await d.call('GET', `/v1/sandboxes/${id}/ports`);
    expect(list.body.ports).toHaveLength(1);
    const p = list.body.ports[0] as { port: number; host: string; host_port: number; url: string };
    expect(p).toMatchObject({ port: 8080, host: '127.0.0.1' });
    const r = await httpGet(p.url);
    expect(r).toEqual({ status: 200, text: 'inside GET / HTTP/1.1 auth=-\n' });
    expect(await upgradeEcho(p.host_port, '/ws', 'hello websocket')).toBe('hello websocket');
  });

  it('a port added while running, then removed', async () => {
    const add = await d.call('POST', `/v1/sandboxes/${id}/ports`, { body: { publish: '127.0.0.1:0:8080' } });
    expect(add.status).toBe(409);
    const add2 = await d.call('DELETE', `/v1/sandboxes/${id}/ports/8080`);
    expect(add2.status).toBe(204);
    const again = await d.call('POST', `/v1/sandboxes/${id}/ports`, { body: { publish: '8080' } });
    expect(again.status).toBe(201);
    expect((await httpGet(again.body.url as string)).text).toContain('inside GET /');
    const bad = await d.call('POST', `/v1/sandboxes/${id}/ports`, { body: { publish: '0.0.0.0:9000:8080' } });
    expect(bad.body.error.code).toBe('INVALID_ARGUMENT');
    expect(bad.body.error.message).toContain('not loopback');
  });

  it("the daemon's proxy route reaches the port under the daemon's auth, and never passes the daemon credential on", async () => {
    const r = await d.call('GET', `/v1/sandboxes/${id}/ports/8080/proxy/some/path?x=1`);
    expect(r.status).toBe(200);
    expect(r.text).toBe('inside GET /some/path?x=1 HTTP/1.1 auth=-\n');
    const anon = await d.call('GET', `/v1/sandboxes/${id}/ports/8080/proxy/`, { anonymous: true });
    expect(anon.status).toBe(401);
    // WebSocket through the daemon's own listener, with its credential; refused without.
    const daemonPort = Number(new URL(d.url).port);
    const auth = d.authHeaders().authorization ?? '';
    expect(await upgradeEcho(daemonPort, `/v1/sandboxes/${id}/ports/8080/proxy/ws`, 'through the daemon', `Authorization: ${auth}\r\n`)).toBe('through the daemon');
    await expect(upgradeEcho(daemonPort, `/v1/sandboxes/${id}/ports/8080/proxy/ws`, 'x')).rejects.toThrow(/^HTTP\/1.1 401/);
    const closed = await d.call('GET', `/v1/sandboxes/${id}/ports/9999/proxy/`);
    expect(closed.body.error.code).toBe('UNAVAILABLE');
    expect(closed.body.error.message).toContain('ECONNREFUSED');
  });

  it('another sandbox cannot reach the exposed port (its loopback is its own)', async () => {
    const other = await createSandbox(d, { network: 'none' });
    const host = (await d.call('GET', `/v1/sandboxes/${id}/ports`)).body.ports[0].host_port as number;
    const r = await run(d, other, ['python3', '-c', `import socket, errno\ntry:\n  socket.create_connection(('127.0.0.1', ${host}), 3)\n  print('CONNECTED')\nexcept OSError as e:\n  print(errno.errorcode[e.errno])`]);
    expect(r.stdout).toBe('ECONNREFUSED\n');
  });
});
