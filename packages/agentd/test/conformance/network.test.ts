/**
 * Conformance, network 'none': where the probe says the backend can take the network away, a
 * sandbox without network has no route out (a TCP connect to a server this test runs on the
 * host's loopback fails, and the server sees no connection) and only a loopback of its own
 * inside; where it cannot, asking for network 'none' is refused with a clear code, never
 * started with the host's network. No traffic leaves loopback.
 */
import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { buildStaticFixtures, createSandbox, exec, expectRefused, feature, featureOk, forEachSubject, startSubjectDaemon, upload, why, type StaticFixtures } from './harness.js';

forEachSubject('network', (s) => {
  let d: TestDaemon;
  let fx: StaticFixtures;
  let server: Server;
  let port = 0;
  let accepted = 0;
  beforeAll(async () => {
    fx = await buildStaticFixtures(['attack']);
    d = await startSubjectDaemon(s);
    server = createServer((sock) => {
      accepted++;
      sock.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  }, 120_000);
  afterAll(async () => {
    await d?.close();
    await new Promise((r) => server?.close(r));
    await fx?.cleanup();
  });

  if (featureOk(s, 'network')) {
    it("network 'none': no route to a server on the host's loopback; only a loopback of its own inside", async () => {
      const id = await createSandbox(d, { network: 'none' });
      await upload(d, id, fx, 'attack');
      // The server answers a host client (so a refused connect from inside means the sandbox, not the server).
      const before = accepted;
      await new Promise<void>((resolve, reject) => {
        const c = connect(port, '127.0.0.1', () => {
          c.destroy();
          resolve();
        }).on('error', reject);
      });
      expect(await until(() => accepted > before)).toBe(true);
      const seen = accepted;
      const r = await exec(d, id, { argv: ['./bin/attack', 'tcp', '127.0.0.1', String(port)] });
      expect(r.stdout.trim()).toMatch(/^ERR (ECONNREFUSED|ENETUNREACH|EHOSTUNREACH|EACCES|EPERM|ETIMEDOUT)$/);
      await new Promise((res) => setTimeout(res, 200));
      expect(accepted).toBe(seen);
      // A backend whose probe says it has no network namespace (linux-native: the host's interfaces are listed, no loopback of its own) skips these two.
      if (feature(s, 'networkNamespace')?.ok !== false) {
        const ifs = (await exec(d, id, { argv: ['./bin/attack', 'ifaces'] })).stdout.trim().split('\n');
        expect(ifs).toEqual(['IF lo']);
        expect((await exec(d, id, { argv: ['./bin/attack', 'loopback'] })).stdout).toBe('OK\n');
      }
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    }, 60_000);
  } else {
    it(`network 'none' is refused with a clear code, never started with the host's network (${why(s, 'network')})`, async () => {
      const before = (await d.call('GET', '/v1/sandboxes')).body.sandboxes.length as number;
      expectRefused(await d.call('POST', '/v1/sandboxes', { body: { network: 'none' } }), ['ISOLATION_REQUIRED', 'LIMIT_UNSUPPORTED', 'INVALID_ARGUMENT', 'POLICY_DENIED', 'BACKEND_UNAVAILABLE']);
      expect((await d.call('GET', '/v1/sandboxes')).body.sandboxes.length).toBe(before);
    });
  }
});

async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
