import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { startTestDaemon } from '../daemon/harness.js';
import { createSandbox, startNetDaemon, startUpstreams, type Upstreams } from './fixtures.js';

const PROBES = ['direct-tcp-ip', 'ipv6', 'udp-dns', 'doh', 'connect-ip-literal', 'connect-rebind', 'sni-mismatch', 'redirect', 'metadata', 'daemon-ports', 'daemon-socket', 'abstract-unix'];

interface Report { held: boolean; probes: Array<{ name: string; result: string; detail: string }> }

async function verify(d: TestDaemon, id: string): Promise<Report> {
  const r = await d.call('POST', `/v1/sandboxes/${id}/network/verify`, { body: {} });
  if (r.status !== 200) throw new Error(`verify: ${r.status} ${r.text}`);
  return r.body as Report;
}

describe('network verify: every probe holds in an allowlist sandbox and in a none sandbox', () => {
  let up: Upstreams;
  let d: TestDaemon;
  beforeAll(async () => {
    up = await startUpstreams();
    d = await startNetDaemon(up);
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  });

  it('allowlist', async () => {
    const id = await createSandbox(d, { network: 'allowlist' });
    const r = await verify(d, id);
    expect(r.probes.map((p) => p.name)).toEqual(PROBES);
    expect(r.probes.filter((p) => p.result !== 'held')).toEqual([]);
    expect(r.held).toBe(true);
    const byName = Object.fromEntries(r.probes.map((p) => [p.name, p.detail]));
    expect(byName['direct-tcp-ip']).toContain('ENETUNREACH');
    expect(byName['connect-ip-literal']).toContain('403');
    expect(byName['connect-rebind']).toContain('403');
    expect(byName['sni-mismatch']).toContain('was cut');
    expect(byName.redirect).toContain('403');
    // The SNI probe's refusal is in the audit log like any other decision.
    const audit = d.daemon.store.audit.query({ limit: 500 }).filter((e) => e.sandboxId === id && e.action === 'network.egress');
    expect(audit.some((e) => e.details.reason_code === 'sni-mismatch')).toBe(true);
  });

  it('none', async () => {
    const id = await createSandbox(d, { network: 'none' });
    const r = await verify(d, id);
    expect(r.probes.filter((p) => p.result !== 'held')).toEqual([]);
  });
});

/**
 * A deliberately leaky setup, loopback only: a sandbox on the host's network whose proxy
 * variables point at a test proxy that tunnels anything to 127.0.0.1 (never anywhere else),
 * with the verify targets set to local servers. Every probe must report broken.
 */
describe('network verify reports each probe broken against a leaky setup', () => {
  let d: TestDaemon;
  const servers: Server[] = [];
  let udp: UdpSocket;
  let dir: string;
  let leakyProxy: number;
  let tcp4: number;
  let tcp6: number;
  let udpPort: number;
  const listen = async (s: Server, host: string): Promise<number> => {
    servers.push(s);
    await new Promise<void>((r) => (host.startsWith('/') ? s.listen(host, r) : s.listen(0, host, r)));
    return host.startsWith('/') ? 0 : (s.address() as AddressInfo).port;
  };
  beforeAll(async () => {
    const answer = (s: Socket): void => {
      s.on('error', () => undefined);
      s.end('HTTP/1.0 200 OK\r\n\r\nreached\n');
    };
    tcp4 = await listen(createServer(answer), '127.0.0.1');
    tcp6 = await listen(createServer(answer), '::1');
    udp = createSocket('udp4');
    udp.on('message', (m, rinfo) => udp.send(m, rinfo.port, rinfo.address));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    udpPort = udp.address().port;
    // Tunnels CONNECT host:port and forwards absolute-URI requests, always to 127.0.0.1:port.
    leakyProxy = await listen(createServer((c) => {
      c.on('error', () => undefined);
      c.once('data', (first: Buffer) => {
        const head = first.toString('latin1');
        const m = /^(\S+) (?:http:\/\/)?[^\s:/]+:(\d+)(\S*)/.exec(head);
        if (!m) return void c.destroy();
        const up = connect(Number(m[2]), '127.0.0.1');
        up.on('error', () => c.destroy());
        if (m[1] === 'CONNECT') {
          c.write('HTTP/1.1 200 Connection established\r\n\r\n');
        } else {
          up.write(head.replace(/^(\S+) http:\/\/[^/]+/, '$1 '));
        }
        c.pipe(up).pipe(c);
      });
    }), '127.0.0.1');
    dir = mkdtempSync(join(tmpdir(), 'agentd-leaky-'));
    chmodSync(dir, 0o755);
    const sock = join(dir, 'svc.sock');
    await listen(createServer(answer), sock);
    chmodSync(sock, 0o666);
    d = await startTestDaemon({
      sandbox: { network: 'host', host_path_roots: [dir], allowed_paths_ro: [dir] },
      network: {
        verify: { tcp: `127.0.0.1:${tcp4}`, tcp6: `[::1]:${tcp6}`, dns: `127.0.0.1:${udpPort}`, metadata: `127.0.0.1:${tcp4}`, doh_host: 'doh.leaky.test', sockets: [sock] },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    for (const s of servers) s.close();
    udp?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('all twelve probes say broken', async () => {
    const id = await createSandbox(d, { network: 'host', env: { HTTPS_PROXY: `http://127.0.0.1:${leakyProxy}` } });
    const r = await verify(d, id);
    expect(r.held).toBe(false);
    expect(r.probes.filter((p) => p.result !== 'broken')).toEqual([]);
    expect(r.probes.map((p) => p.name)).toEqual(PROBES);
  });
});
