import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeRelay, nativeRelayAvailable } from '../../src/network/native-relay.js';
import type { TestDaemon } from '../daemon/harness.js';
import { createSandbox, run, startNetDaemon, startUpstreams, type Upstreams } from './fixtures.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

/** Everything a socket receives until its end, and whether it ended cleanly or was cut. */
function collect(s: Socket): Promise<{ data: Buffer; how: 'end' | 'error' }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve({ data: Buffer.concat(parts), how: 'end' }));
    s.once('error', () => resolve({ data: Buffer.concat(parts), how: 'error' }));
  });
}

/**
 * A relay like the egress proxy's: `entry` accepts the "sandbox side", connects the upstream
 * (paused, as the proxy does), puts `head` in front of what the client sent (as the proxy does
 * with a ClientHello or a rewritten request head) and hands both to the native relay.
 */
async function relayPair(upstreamPort: number, head: Buffer): Promise<{ port: number; ended: Promise<{ up: number; down: number; native: boolean }>; server: Server }> {
  let resolveEnd: (v: { up: number; down: number; native: boolean }) => void = () => undefined;
  const ended = new Promise<{ up: number; down: number; native: boolean }>((r) => (resolveEnd = r));
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const up = connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true });
    up.pause();
    up.once('connect', () => {
      client.unshift(head);
      let native = false;
      native = nativeRelay(client, up, (u, dn) => resolveEnd({ up: u, down: dn, native }));
      if (!native) resolveEnd({ up: -1, down: -1, native });
    });
  });
  return { port: await listen(server), ended, server };
}

describe('the native relay (relay.node: splice on a background thread)', () => {
  it('is built', () => {
    expect(nativeRelayAvailable()).toBe(true);
  });

  it('moves bytes both ways unchanged, passes each half-close on, and counts exactly', async () => {
    const toUp = randomBytes(3 * 1024 * 1024 + 17);
    const toClient = randomBytes(5 * 1024 * 1024 + 3);
    const head = Buffer.from('HEAD-BYTES-FIRST\r\n');
    let upGot: Promise<{ data: Buffer; how: string }> = Promise.resolve({ data: Buffer.alloc(0), how: '' });
    // The upstream answers only after the client's half-close: the relay must pass the FIN on
    // and keep the other direction open.
    const upstream = createServer({ allowHalfOpen: true }, (s) => {
      upGot = collect(s);
      void upGot.then(() => s.end(toClient));
    });
    const upPort = await listen(upstream);
    const pair = await relayPair(upPort, head);
    const peer = connect({ host: '127.0.0.1', port: pair.port, allowHalfOpen: true });
    const peerGot = collect(peer);
    peer.end(toUp);
    const got = await peerGot;
    const seen = await upGot;
    const counts = await pair.ended;
    expect(counts.native).toBe(true);
    expect(seen.how).toBe('end');
    expect(sha(seen.data)).toBe(sha(Buffer.concat([head, toUp])));
    expect(got.how).toBe('end');
    expect(sha(got.data)).toBe(sha(toClient));
    expect(counts).toEqual({ up: head.length + toUp.length, down: toClient.length, native: true });
    peer.destroy();
    pair.server.close();
    upstream.close();
  });

  it('an upstream that resets cuts the client at once (no hang), and the relay still reports', async () => {
    const upstream = createServer((s) => {
      s.once('data', () => s.resetAndDestroy());
    });
    const upPort = await listen(upstream);
    const pair = await relayPair(upPort, Buffer.from('x'));
    const peer = connect({ host: '127.0.0.1', port: pair.port });
    const peerGot = collect(peer);
    peer.write('hello');
    const got = await peerGot;
    const counts = await pair.ended;
    expect(counts.native).toBe(true);
    expect(got.data.length).toBe(0);
    expect(['end', 'error']).toContain(got.how);
    expect(counts.up).toBeGreaterThanOrEqual(1);
    peer.destroy();
    pair.server.close();
    upstream.close();
  });
});

const PY_PARALLEL = `
import hashlib, socket, sys, threading
host, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
results = [None] * n
def one(i):
    try:
        s = socket.create_connection(('127.0.0.1', 3128))
        s.sendall(('CONNECT %s:%d HTTP/1.1\\r\\nHost: %s:%d\\r\\n\\r\\n' % (host, port, host, port)).encode())
        h = b''
        while b'\\r\\n\\r\\n' not in h:
            c = s.recv(1024)
            if not c: raise Exception('closed before the reply')
            h += c
        if b' 200 ' not in h.split(b'\\r\\n')[0] + b' ': raise Exception(h[:80])
        data = bytes([(i * 7 + k) % 251 for k in range(251)]) * (size // 251 + 1)
        data = data[:size]
        got = []
        def rd():
            while True:
                c = s.recv(65536)
                if not c: break
                got.append(c)
        t = threading.Thread(target=rd); t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join()
        back = b''.join(got)
        results[i] = 'ok' if hashlib.sha256(back).digest() == hashlib.sha256(data).digest() else 'bad %d/%d' % (len(back), size)
    except Exception as e:
        results[i] = 'error %s' % e
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print(' '.join(results))
`;

describe('many tunnels at once through the in-sandbox relay and the daemon', () => {
  let up: Upstreams;
  let d: TestDaemon;
  let id: string;
  beforeAll(async () => {
    up = await startUpstreams(['up.test']);
    d = await startNetDaemon(up);
    id = await createSandbox(d, { network: 'allowlist' });
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  });

  it('24 concurrent CONNECT tunnels each echo 300 KiB back unchanged after a half-close, each audited with its bytes', async () => {
    const size = 300 * 1024;
    const r = await run(d, id, ['python3', '-c', PY_PARALLEL, 'up.test', String(up.tcpEcho), '24', String(size)]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split(' ')).toEqual(Array.from({ length: 24 }, () => 'ok'));
    let events: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 100 && events.length < 24; i++) {
      events = d.daemon.store.audit.query({ limit: 1000 }).filter((e) => e.action === 'network.egress' && e.sandboxId === id && e.details?.port === up.tcpEcho).map((e) => e.details ?? {});
      if (events.length < 24) await new Promise((res) => setTimeout(res, 50));
    }
    expect(events).toHaveLength(24);
    for (const e of events) expect(e).toMatchObject({ decision: 'allowed', bytes_up: size, bytes_down: size });
  });

  it('a 64 MiB download through plain HTTP arrives whole', async () => {
    const n = 64 * 1024 * 1024;
    const r = await run(d, id, ['curl', '-sS', '-o', '/dev/null', '-w', '%{size_download}', `http://up.test:${up.http}/big?n=${n}`]);
    expect(r.stderr).toBe('');
    expect(Number(r.stdout)).toBe(n);
  });
});
