import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestDaemon, type ConfigOverrides, type TestDaemon } from '../daemon/harness.js';

/** Upstream servers on 127.0.0.1 in the host namespace: the only targets network tests use. */
export interface Upstreams {
  http: number;
  https: number;
  tcpEcho: number;
  /** A loopback port of a server no rule allows (a "host service" the sandbox must not reach). */
  forbidden: number;
  /** The test CA (PEM) that signed the HTTPS upstream's certificate. */
  ca: string;
  /** Requests the upstreams saw ("METHOD URL host"). */
  seen: string[];
  close(): Promise<void>;
}

const listen = (s: Server | HttpServer): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

/** A test CA and a server certificate for `names`, made with openssl in a temp folder. */
export function testCert(names: string[]): { ca: string; key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-net-ca-'));
  try {
    const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=agentd test CA']);
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', `/CN=${names[0] ?? 'x'}`]);
    writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
    run(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
    return { ca: readFileSync(join(dir, 'ca.pem'), 'utf8'), key: readFileSync(join(dir, 'srv.key'), 'utf8'), cert: readFileSync(join(dir, 'srv.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function handler(seen: string[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers.host ?? ''}`);
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/redirect') {
      res.writeHead(302, { location: u.searchParams.get('to') ?? '/' });
      return void res.end();
    }
    if (u.pathname === '/big') {
      const n = Number(u.searchParams.get('n') ?? '0');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
      const chunk = Buffer.alloc(1 << 20, 0x61);
      let left = n;
      const pump = (): void => {
        while (left > 0) {
          const c = chunk.subarray(0, Math.min(left, chunk.length));
          left -= c.length;
          if (!res.write(c)) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from upstream ${req.headers.host ?? ''}\n`);
  };
}

/** The upstreams; the HTTPS one has a certificate for `tlsNames` signed by a fresh test CA. */
export async function startUpstreams(tlsNames: string[] = ['up.test']): Promise<Upstreams> {
  const seen: string[] = [];
  const { ca, key, cert } = testCert(tlsNames);
  const http = createHttpServer(handler(seen));
  const https = createHttpsServer({ key, cert }, handler(seen));
  const echo = createTcpServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const forbidden = createTcpServer((s) => {
    seen.push('forbidden service reached');
    s.end('SECRET\n');
  });
  const ports = await Promise.all([listen(http), listen(https), listen(echo), listen(forbidden)]);
  return {
    http: ports[0] ?? 0, https: ports[1] ?? 0, tcpEcho: ports[2] ?? 0, forbidden: ports[3] ?? 0, ca, seen,
    async close() {
      for (const s of [http, https]) s.closeAllConnections();
      await Promise.all([http, https, echo, forbidden].map((s) => new Promise((r) => s.close(r))));
    },
  };
}

/**
 * A daemon whose sandboxes default to network 'allowlist', with the test names mapped to
 * 127.0.0.1 (network.hosts, nothing else resolved) and exactly the upstream ports allowed.
 */
export async function startNetDaemon(up: Upstreams, extra: ConfigOverrides = {}): Promise<TestDaemon> {
  return startTestDaemon({
    sandbox: { network: 'allowlist' },
    network: {
      allow: [`up.test:${up.http},${up.https},${up.tcpEcho}`, `*.up.test:${up.http},${up.https}`, `127.0.0.1/32:${up.http},${up.https},${up.tcpEcho}`],
      hosts: { 'up.test': ['127.0.0.1'], 'www.up.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'], 'private.up.test': ['10.1.2.3'] },
      dns: 'hosts-only',
    },
    ...extra,
  });
}

/** Runs argv in the sandbox (JSON exec); returns exit code and output. */
export async function run(d: TestDaemon, id: string, argv: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv, env, timeout_ms: 60_000 } });
  if (r.status !== 200) throw new Error(`exec ${argv.join(' ')}: ${r.status} ${r.text}`);
  return { code: r.body.exit_code as number | null, stdout: r.body.stdout as string, stderr: r.body.stderr as string };
}

export async function createSandbox(d: TestDaemon, body: Record<string, unknown> = {}): Promise<string> {
  const c = await d.call('POST', '/v1/sandboxes', { body });
  if (c.status !== 201 && c.status !== 200) throw new Error(`create: ${c.status} ${c.text}`);
  return c.body.id as string;
}
