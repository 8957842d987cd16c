/**
 * Egress through the allowlist proxy against the same traffic from the host (issue 12):
 * - egress_get_256m / direct_get_256m: curl downloads 256 MiB from a local HTTP upstream
 *   (127.0.0.1 in the host namespace, reached from the sandbox as up.bench through
 *   network.hosts), inside an allowlist sandbox (exec through the API: the command's whole run)
 *   and on the host (a spawned curl);
 * - egress_connect / direct_connect: connection set-up to a local TCP echo, timed by python3 in
 *   one process per sample set: through the proxy, CONNECT + 200 + one byte echoed; directly,
 *   connect + one byte echoed;
 * - ns_exec_true_allowlist / ns_exec_true_none: `true` through the API in an allowlist sandbox
 *   and a none sandbox of the same daemon (no per-command cost of the mode).
 */
import { spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';

const BIG = Buffer.alloc(1 << 20, 0x61);

/** A local HTTP upstream serving /big?n=BYTES, and a TCP echo. */
export async function startUpstreams() {
  const http = createHttpServer((req, res) => {
    const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n') ?? '0');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
    let left = n;
    const pump = () => {
      while (left > 0) {
        const c = BIG.subarray(0, Math.min(left, BIG.length));
        left -= c.length;
        if (!res.write(c)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const echo = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const listen = (srv) => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv.address().port)));
  const [httpPort, echoPort] = await Promise.all([listen(http), listen(echo)]);
  return {
    httpPort, echoPort,
    close: () => Promise.all([http, echo].map((s) => new Promise((r) => { s.closeAllConnections?.(); s.close(r); }))),
  };
}

/** The daemon config lines added for the network group. */
export function networkConfig({ httpPort, echoPort }) {
  return [
    '[network]',
    `allow = ["up.bench:${httpPort},${echoPort}", "127.0.0.1/32:${httpPort},${echoPort}"]`,
    'dns = "hosts-only"',
    '[network.hosts]',
    '"up.bench" = ["127.0.0.1"]',
  ].join('\n');
}

const CONNECT_SCRIPT = String.raw`
import json, socket, sys, time
mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
out = []
for i in range(n):
    t = time.perf_counter()
    if mode == 'proxy':
        s = socket.create_connection(('127.0.0.1', 3128))
        s.sendall(('CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n' % (host, port, host, port)).encode())
        h = b''
        while b'\r\n\r\n' not in h:
            h += s.recv(1024)
        assert b' 200 ' in h.split(b'\r\n')[0] + b' ', h
    else:
        s = socket.create_connection((host, port))
    s.sendall(b'x')
    assert s.recv(1) == b'x'
    out.append((time.perf_counter() - t) * 1000)
    s.close()
print(json.dumps(out))
`;

/** Samples (ms) of connection set-up to the echo: through the sandbox's proxy, or from the host. */
export async function connectSamples(sbx, up, mode, n) {
  if (mode === 'proxy') {
    const r = await sbx.exec(['python3', '-c', CONNECT_SCRIPT, 'proxy', 'up.bench', String(up.echoPort), String(n)]);
    if (r.exitCode !== 0) throw new Error(`egress_connect: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }
  const out = await run('/usr/bin/python3', ['-c', CONNECT_SCRIPT, 'direct', '127.0.0.1', String(up.echoPort), String(n)]);
  return JSON.parse(out);
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

/** curl in the allowlist sandbox (through the proxy) downloads `bytes`. */
export async function egressGet(sbx, up, bytes) {
  const r = await sbx.exec(['curl', '-sS', '-o', '/dev/null', '-w', '%{size_download}', `http://up.bench:${up.httpPort}/big?n=${bytes}`], { timeoutMs: 600_000 });
  if (r.exitCode !== 0 || Number(r.stdout) !== bytes) throw new Error(`egress_get: exit ${r.exitCode}, ${r.stdout} bytes, ${r.stderr}`);
}

/** The same curl on the host, straight to the upstream. */
export async function directGet(up, bytes) {
  const out = await run('curl', ['-sS', '--noproxy', '*', '-o', '/dev/null', '-w', '%{size_download}', `http://127.0.0.1:${up.httpPort}/big?n=${bytes}`]);
  if (Number(out) !== bytes) throw new Error(`direct_get: ${out} bytes`);
}
