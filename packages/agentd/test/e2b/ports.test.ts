import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from 'e2b';
import { startE2bDaemon, type E2bTestDaemon } from './harness.js';

/** A small HTTP + WebSocket-upgrade server for inside the sandbox (python3 standard library only); it echoes what it got. */
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
    body = ('inside %s token=%s traffic=%s sid=%s\n' % (line, hdr.get('x-access-token', '-'), hdr.get('e2b-traffic-access-token', '-'), hdr.get('e2b-sandbox-id', '-'))).encode()
    c.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n' % len(body) + body); c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

function get(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

function upgradeEcho(port: number, headers: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    let upgraded = false;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!upgraded && buf.includes('\r\n\r\n')) {
        upgraded = true;
        if (!buf.startsWith('HTTP/1.1 101')) {
          s.destroy();
          return reject(new Error(buf.split('\r\n')[0]));
        }
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        s.write(payload);
      }
      if (upgraded && buf.length >= payload.length) {
        s.destroy();
        resolve(buf);
      }
    });
    s.on('error', reject);
    s.write(`GET /ws HTTP/1.1\r\n${headers}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

/** sandbox.getHost(port) with the real `e2b` SDK: HTTP and WebSocket reach a server started in the sandbox. */
describe('E2B ports: getHost relays to a server in the sandbox', () => {
  let e: E2bTestDaemon;
  let sbx: Sandbox;
  let token: string;
  beforeAll(async () => {
    e = await startE2bDaemon();
    sbx = await Sandbox.create(e.opts);
    token = (sbx as unknown as { envdAccessToken: string }).envdAccessToken;
    // The server is started through agentd's own API by a key of the same tenant (the exec is not waited for).
    const k = await e.d.call('POST', '/v1/keys', { body: { subject: 'ops', tenant: 't1', roles: ['user'] } });
    const auth = { authorization: `Bearer ${k.body.key as string}` };
    e.d.call('POST', `/v1/sandboxes/${sbx.sandboxId}/exec`, { headers: auth, body: { argv: ['python3', '-c', SERVER, '8080'], timeout_ms: 120_000 } }).catch(() => undefined);
    for (let i = 0; i < 100; i++) {
      const r = await e.d.call('POST', `/v1/sandboxes/${sbx.sandboxId}/exec`, { headers: auth, body: { argv: ['python3', '-c', "import socket; socket.create_connection(('127.0.0.1', 8080)).close()"] } });
      if (r.body.exit_code === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  }, 60_000);
  afterAll(async () => {
    await sbx?.kill().catch(() => undefined);
    await e?.close();
  });

  it('getHost names <port>-<id>.<daemon domain>; that Host with the traffic token reaches the server; E2B headers are not passed on', async () => {
    const host = sbx.getHost(8080);
    expect(host).toBe(`8080-${sbx.sandboxId}.agentd.localhost`);
    expect(sbx.trafficAccessToken).toMatch(/^[0-9a-f]{64}$/);
    const r = await get(e.sandboxUrl, '/some/path?x=1', { host, 'e2b-traffic-access-token': sbx.trafficAccessToken ?? '' });
    expect(r).toEqual({ status: 200, text: 'inside GET /some/path?x=1 HTTP/1.1 token=- traffic=- sid=-\n' });
  });

  it('the headers form (E2b-Sandbox-Id, E2b-Sandbox-Port, X-Access-Token) reaches it too', async () => {
    const r = await get(e.sandboxUrl, '/', { 'e2b-sandbox-id': sbx.sandboxId, 'e2b-sandbox-port': '8080', 'x-access-token': token });
    expect(r).toEqual({ status: 200, text: 'inside GET / HTTP/1.1 token=- traffic=- sid=-\n' });
  });

  it('without a token, with a wrong one, or another sandbox\'s token: 401', async () => {
    const host = sbx.getHost(8080);
    expect((await get(e.sandboxUrl, '/', { host })).status).toBe(401);
    expect((await get(e.sandboxUrl, '/', { host, 'e2b-traffic-access-token': 'f'.repeat(64) })).status).toBe(401);
    const other = await Sandbox.create(e.opts);
    expect((await get(e.sandboxUrl, '/', { host, 'e2b-traffic-access-token': other.trafficAccessToken ?? '' })).status).toBe(401);
    await other.kill();
    // The refusals are in the audit log (one counted row per source and reason).
    const audit = await e.d.call('GET', '/v1/audit?limit=500');
    const refused = (audit.body.events as Array<{ action: string; status: string; details: { route?: string } }>).filter((ev) => ev.action === 'auth' && ev.status === 'denied' && (ev.details.route ?? '').startsWith('/e2b/port'));
    expect(refused.length).toBeGreaterThan(0);
  });

  it('a WebSocket upgrade through getHost reaches the server; without a token it is refused with 401', async () => {
    const port = Number(new URL(e.sandboxUrl).port);
    const host = sbx.getHost(8080);
    expect(await upgradeEcho(port, `Host: ${host}\r\ne2b-traffic-access-token: ${sbx.trafficAccessToken ?? ''}\r\n`, 'hello through e2b')).toBe('hello through e2b');
    await expect(upgradeEcho(port, `Host: ${host}\r\n`, 'x')).rejects.toThrow(/^HTTP\/1.1 401/);
  });

  it('a port nobody listens on answers an error at once, not a hang', async () => {
    const r = await get(e.sandboxUrl, '/', { host: sbx.getHost(9999), 'e2b-traffic-access-token': sbx.trafficAccessToken ?? '' });
    expect(r.status).toBeGreaterThanOrEqual(400);
  });

  it('the relay is audited as sandbox.ports.proxy with the key\'s subject', async () => {
    const audit = await e.d.call('GET', '/v1/audit?limit=500');
    const ev = (audit.body.events as Array<{ action: string; subject: string; sandbox_id: string }>).find((x) => x.action === 'sandbox.ports.proxy' && x.sandbox_id === sbx.sandboxId);
    expect(ev?.subject).toBe('alice');
  });
});
