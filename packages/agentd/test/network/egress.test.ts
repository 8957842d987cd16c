import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { createSandbox, run, startNetDaemon, startUpstreams, type Upstreams } from './fixtures.js';

/** The newest network.egress audit events of a sandbox. */
function egressEvents(d: TestDaemon, id: string): Array<Record<string, unknown>> {
  return d.daemon.store.audit.query({ limit: 1000 }).filter((e) => e.action === 'network.egress' && e.sandboxId === id).map((e) => ({ status: e.status, ...e.details }));
}

/** Waits until an audit event matching `pred` exists (a connection is recorded when it ends). */
async function waitEvent(d: TestDaemon, id: string, pred: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const e = egressEvents(d, id).find(pred);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no matching audit event; have ${JSON.stringify(egressEvents(d, id))}`);
}

const PY_TUNNEL_SNI = `
import socket, ssl, sys
host, port, sni = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(('127.0.0.1', 3128))
s.sendall(f'CONNECT {host}:{port} HTTP/1.1\\r\\nHost: {host}:{port}\\r\\n\\r\\n'.encode())
head = s.recv(1000)
print(head.split(b'\\r\\n')[0].decode())
ctx = ssl.create_default_context(cafile='/tmp/ca.pem')
ctx.check_hostname = False
try:
    t = ctx.wrap_socket(s, server_hostname=sni)
    t.sendall(b'GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n')
    print('GOT', t.recv(100))
except Exception as e:
    print('TLS FAILED', type(e).__name__)
`;

const PY_RAW = `
import socket, errno, sys
def attempt(what, fn):
    try:
        fn()
        print(what, 'CONNECTED')
    except OSError as e:
        print(what, errno.errorcode.get(e.errno, e.errno))
def tcp(addr, port, fam=socket.AF_INET):
    s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(3); s.connect((addr, port))
def udp(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', (addr, port))
attempt('tcp-ip', lambda: tcp('192.0.2.1', 80))
attempt('tcp6', lambda: tcp('2001:db8::1', 80, socket.AF_INET6))
attempt('udp-dns', lambda: udp('192.0.2.53', 53))
attempt('host-loopback', lambda: tcp('127.0.0.1', int(sys.argv[1])))
`;

describe('allowlist egress through the proxy', () => {
  let up: Upstreams;
  let d: TestDaemon;
  let id: string;
  beforeAll(async () => {
    up = await startUpstreams(['up.test', 'www.up.test']);
    d = await startNetDaemon(up);
    id = await createSandbox(d, { network: 'allowlist' });
    const w = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['sh', '-c', 'cat > /tmp/ca.pem'], stdin: up.ca } });
    expect(w.body.exit_code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  });

  it('the proxy variables point at the in-sandbox relay', async () => {
    const r = await run(d, id, ['sh', '-c', 'echo "$HTTPS_PROXY $ALL_PROXY $NO_PROXY $GIT_CONFIG_KEY_0"']);
    expect(r.stdout).toBe('http://127.0.0.1:3128 socks5h://127.0.0.1:3128 localhost,127.0.0.1,::1 http.proxy\n');
  });

  it('curl reaches an allowed upstream: plain HTTP, HTTPS through CONNECT (test CA), SOCKS5; each recorded with its bytes', async () => {
    const plain = await run(d, id, ['curl', '-sS', '--max-time', '10', `http://up.test:${up.http}/`]);
    expect(plain.stdout).toBe(`hello from upstream up.test:${up.http}\n`);
    const tls = await run(d, id, ['curl', '-sS', '--max-time', '10', '--cacert', '/tmp/ca.pem', `https://up.test:${up.https}/`]);
    expect(tls.stderr).toBe('');
    expect(tls.stdout).toBe(`hello from upstream up.test:${up.https}\n`);
    const socks = await run(d, id, ['curl', '-sS', '--max-time', '10', '--proxy', 'socks5h://127.0.0.1:3128', `http://up.test:${up.http}/`]);
    expect(socks.stdout).toBe(`hello from upstream up.test:${up.http}\n`);
    const e = await waitEvent(d, id, (x) => x.protocol === 'connect' && x.decision === 'allowed');
    expect(e).toMatchObject({ status: 'ok', host: 'up.test', port: up.https, address: '127.0.0.1', rule: expect.stringContaining('up.test') as unknown });
    expect(e.bytes_up).toBeGreaterThan(100);
    expect(e.bytes_down).toBeGreaterThan(100);
    await waitEvent(d, id, (x) => x.protocol === 'socks5' && x.decision === 'allowed');
    await waitEvent(d, id, (x) => x.protocol === 'http' && x.decision === 'allowed');
  });

  it('a host not in the allowlist is refused with a clear message, and recorded', async () => {
    const plain = await run(d, id, ['curl', '-sS', '--max-time', '10', `http://other.test:${up.http}/`]);
    expect(plain.stdout).toBe(`agentd egress proxy: other.test:${up.http} is not in the allowlist\n`);
    const tls = await run(d, id, ['curl', '-sS', '--max-time', '10', `https://other.test:${up.https}/`]);
    expect(tls.code).toBe(56);
    expect(tls.stderr).toContain('403');
    const e = await waitEvent(d, id, (x) => x.host === 'other.test' && x.protocol === 'connect');
    expect(e).toMatchObject({ status: 'denied', decision: 'denied', reason_code: 'not-listed' });
  });

  it('an allowed name on a port no rule lists is refused', async () => {
    const r = await run(d, id, ['curl', '-sS', '--max-time', '10', `http://up.test:${up.forbidden}/`]);
    expect(r.stdout).toContain('is not in the allowlist');
    expect(up.seen).not.toContain('forbidden service reached');
  });

  it('CONNECT to an IP literal is refused unless an IP rule allows it', async () => {
    const r = await run(d, id, ['curl', '-sS', '--max-time', '10', '--noproxy', '', '-x', 'http://127.0.0.1:3128', `http://127.0.0.1:${up.forbidden}/`]);
    expect(r.stdout).toContain(`IP address 127.0.0.1:${up.forbidden} is not allowed`);
    expect(up.seen).not.toContain('forbidden service reached');
  });

  it('a listed name whose address is private is refused (DNS rebinding), nothing is connected', async () => {
    const r = await run(d, id, ['curl', '-sS', '--max-time', '10', `http://private.up.test:${up.http}/`]);
    expect(r.stdout).toContain('resolves only to refused addresses: 10.1.2.3 (private)');
    const e = await waitEvent(d, id, (x) => x.host === 'private.up.test');
    expect(e).toMatchObject({ reason_code: 'special-address', address: '10.1.2.3', bytes_up: 0, bytes_down: 0 });
  });

  it('a TLS ClientHello naming another host than the CONNECT is cut (no fronting)', async () => {
    const r = await run(d, id, ['python3', '-c', PY_TUNNEL_SNI, 'up.test', String(up.https), 'other.test']);
    expect(r.stdout).toContain('HTTP/1.1 200');
    expect(r.stdout).toContain('TLS FAILED');
    const e = await waitEvent(d, id, (x) => x.reason_code === 'sni-mismatch');
    expect(e.reason).toContain("TLS server name 'other.test' differs from the tunnel's host 'up.test'");
    // The same tunnel with the matching name works.
    const ok = await run(d, id, ['python3', '-c', PY_TUNNEL_SNI, 'up.test', String(up.https), 'up.test']);
    expect(ok.stdout).toContain('GOT');
  });

  it('a redirect to a host not in the allowlist is refused when followed', async () => {
    const r = await run(d, id, ['curl', '-sSL', '--max-time', '10', `http://up.test:${up.http}/redirect?to=http://other.test:${up.http}/`]);
    expect(r.stdout).toContain(`other.test:${up.http} is not in the allowlist`);
  });

  it('raw sockets get nothing: no route out, the host loopback is not the sandbox loopback', async () => {
    const r = await run(d, id, ['python3', '-c', PY_RAW, String(up.http)]);
    expect(r.stdout.split('\n')).toEqual(['tcp-ip ENETUNREACH', 'tcp6 ENETUNREACH', 'udp-dns ENETUNREACH', 'host-loopback ECONNREFUSED', '']);
  });

  it("the sandbox cannot touch the daemon's socket folder: read-only inside, the daemon's own outside", async () => {
    const r = await run(d, id, ['python3', '-c', `
import os, errno
for what, fn in [('unlink', lambda: os.unlink('/.agentd/net/egress.sock')), ('symlink', lambda: os.symlink('/tmp/x', '/.agentd/net/evil')), ('rename', lambda: os.rename('/.agentd/net/egress.sock', '/.agentd/net/e2'))]:
    try:
        fn(); print(what, 'DONE')
    except OSError as e:
        print(what, errno.errorcode[e.errno])
`]);
    expect(r.stdout).toBe('unlink EROFS\nsymlink EROFS\nrename EROFS\n');
    const dir = join(d.home, 'net', id);
    const st = lstatSync(dir);
    expect(st.isDirectory()).toBe(true);
    expect(st.uid).toBe(process.getuid?.());
    expect(st.mode & 0o777).toBe(0o755);
    expect(lstatSync(join(dir, 'egress.sock')).isSocket()).toBe(true);
    // Another sandbox sees its own folder only.
    const other = await createSandbox(d, { network: 'allowlist' });
    const ls = await run(d, other, ['sh', '-c', 'ls /.agentd/net; ls /.agentd']);
    expect(ls.stdout).toBe('egress.sock\nports.sock\ninit\nnet\n');
  });

  it('SOCKS5 BIND and UDP ASSOCIATE are refused (reply 7); a plain request whose Host differs from its URI is refused', async () => {
    const r = await run(d, id, ['python3', '-c', `
import socket
for cmd in (2, 3):
    s = socket.create_connection(('127.0.0.1', 3128)); s.sendall(bytes([5, 1, 0])); s.recv(2)
    s.sendall(bytes([5, cmd, 0, 3, 7]) + b'up.test' + (${up.http}).to_bytes(2, 'big'))
    print('cmd', cmd, 'reply', s.recv(10)[1])
s = socket.create_connection(('127.0.0.1', 3128))
s.sendall(b'GET http://up.test:${up.http}/ HTTP/1.1\\r\\nHost: other.test:${up.http}\\r\\n\\r\\n')
print(s.recv(4096).decode().split('\\r\\n')[0])
`]);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').slice(0, 3)).toEqual(['cmd 2 reply 7', 'cmd 3 reply 7', 'HTTP/1.1 400 Bad Request']);
    expect(up.seen.filter((x) => x.endsWith(` other.test:${up.http}`))).toEqual([]);
  });

  it('decisions are Prometheus counters', async () => {
    const m = await d.call('GET', '/metrics');
    expect(m.text).toMatch(/agentd_egress_connections_total\{decision="allowed",code="allowed",protocol="connect"\} [1-9]/);
    expect(m.text).toMatch(/agentd_egress_connections_total\{decision="denied",code="not-listed",protocol="http"\} [1-9]/);
    expect(m.text).toMatch(/agentd_egress_bytes_total\{direction="down"\} [1-9]/);
  });
});

describe('the default refuses loopback', () => {
  let up: Upstreams;
  let d: TestDaemon;
  beforeAll(async () => {
    up = await startUpstreams();
    // The names are allowed, but no IP rule names 127.0.0.0/8.
    d = await startNetDaemon(up, { network: { allow: [`up.test:${up.http}`], hosts: { 'up.test': ['127.0.0.1'] }, dns: 'hosts-only' } });
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  });

  it('an allowed name resolving to 127.0.0.1 is refused without an IP rule', async () => {
    const id = await createSandbox(d, { network: 'allowlist' });
    const r = await run(d, id, ['curl', '-sS', '--max-time', '10', `http://up.test:${up.http}/`]);
    expect(r.stdout).toContain('resolves only to refused addresses: 127.0.0.1 (loopback)');
    expect(up.seen).toEqual([]);
  });

  it('a sandbox with network none gets no proxy and no way out', async () => {
    const id = await createSandbox(d, { network: 'none' });
    const r = await run(d, id, ['sh', '-c', 'echo "[$HTTP_PROXY]"; curl -sS --max-time 5 -x http://127.0.0.1:3128 http://up.test/ 2>&1; true']);
    expect(r.stdout).toContain('[]');
    expect(r.stdout).toMatch(/Failed to connect|Couldn't connect/);
  });
});
