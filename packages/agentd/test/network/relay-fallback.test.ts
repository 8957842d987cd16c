/**
 * The egress proxy without the native relay (AGENTD_RELAY_ADDON names no file): connections are
 * relayed in JavaScript with the same behaviour: the rewritten request head and a tunnel's first
 * bytes go upstream first, half-closes pass, bytes are counted. This file runs in its own
 * process (vitest forks), so the addon is never loaded here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
process.env.AGENTD_RELAY_ADDON = '/nonexistent/relay.node';
const { nativeRelayAvailable } = await import('../../src/network/native-relay.js');
const { createSandbox, run, startNetDaemon, startUpstreams } = await import('./fixtures.js');
import type { TestDaemon } from '../daemon/harness.js';
import type { Upstreams } from './fixtures.js';

const PY_ECHO = `
import socket, sys
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(('127.0.0.1', 3128))
s.sendall(('CONNECT %s:%d HTTP/1.1\\r\\nHost: %s:%d\\r\\n\\r\\n' % (host, port, host, port)).encode())
h = b''
while b'\\r\\n\\r\\n' not in h:
    h += s.recv(1024)
data = bytes(range(256)) * (size // 256)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b''
while True:
    c = s.recv(65536)
    if not c: break
    got += c
print(h.split(b'\\r\\n')[0].decode(), 'same' if got == data else 'differs %d' % len(got))
`;

describe('egress without the native relay', () => {
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

  it('is not loaded', () => {
    expect(nativeRelayAvailable()).toBe(false);
  });

  it('plain HTTP and a CONNECT tunnel work and are counted as with it', async () => {
    const n = 8 * 1024 * 1024;
    const g = await run(d, id, ['curl', '-sS', '-o', '/dev/null', '-w', '%{size_download}', `http://up.test:${up.http}/big?n=${n}`]);
    expect(g.stderr).toBe('');
    expect(Number(g.stdout)).toBe(n);
    const size = 256 * 1024;
    const t = await run(d, id, ['python3', '-c', PY_ECHO, 'up.test', String(up.tcpEcho), String(size)]);
    expect(t.stdout.trim()).toBe('HTTP/1.1 200 Connection established same');
    let e: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !e; i++) {
      e = d.daemon.store.audit.query({ limit: 1000 }).find((x) => x.action === 'network.egress' && x.sandboxId === id && x.details?.port === up.tcpEcho)?.details;
      if (!e) await new Promise((r) => setTimeout(r, 50));
    }
    expect(e).toMatchObject({ decision: 'allowed', bytes_up: size, bytes_down: size });
  });
});
