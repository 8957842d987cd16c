/**
 * Network isolation of a namespace sandbox with network 'none': an empty network
 * namespace holding only its own loopback.
 */
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { attempt, harness, noteSkip, plantAttack, sh, skipReason, type Harness } from './fixture.js';

/** A non-loopback IPv4 address of this host, if it has one. */
function hostAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function nameserver(): string | undefined {
  const text = (() => {
    try {
      return readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      return '';
    }
  })();
  return /^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/m.exec(text)?.[1];
}

describe.skipIf(noteSkip('network attacks', skipReason))("namespace sandbox: network 'none'", () => {
  let h: Harness;
  let sbx: SandboxHandle;
  let server: Server;
  let port = 0;
  let accepted = 0;

  beforeAll(async () => {
    h = await harness();
    sbx = await h.start({ network: 'none' });
    await plantAttack(sbx);
    server = createServer((sock) => {
      accepted += 1;
      // The attack helper closes right after connecting: a reset is expected.
      sock.on('error', () => undefined);
      sock.end('hello from the host\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const addr = server.address();
    port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await h?.close();
  });

  test("the host's loopback server is reachable from the host (control) but not from the sandbox", async () => {
    await new Promise<void>((resolve, reject) => {
      const c = connect(port, '127.0.0.1', () => c.end());
      c.resume();
      c.on('close', () => resolve());
      c.on('error', reject);
    });
    const before = accepted;
    expect(before).toBeGreaterThan(0);
    // 127.0.0.1 inside is the sandbox's own loopback, where nothing listens: the refusal comes
    // from a different network stack than the host's, where the server is listening.
    expect(await attempt(sbx, 'connect-tcp', '127.0.0.1', String(port))).toBe('ECONNREFUSED');
    expect(accepted).toBe(before);
  });

  const addr = hostAddress();
  test.skipIf(noteSkip("reaching the host's external address", addr === undefined ? 'the host has no non-loopback IPv4 address' : undefined))(
    "the host's external address is unreachable: there is no route (ENETUNREACH)",
    async () => {
      const before = accepted;
      expect(await attempt(sbx, 'connect-tcp', addr as string, String(port))).toBe('ENETUNREACH');
      expect(accepted).toBe(before);
    },
  );

  test("network 'host' (workstation profile only) shares the host's network: the same server is reached", async () => {
    const ws = await h.start({ network: 'host', profile: 'workstation' });
    await plantAttack(ws);
    const before = accepted;
    expect(await attempt(ws, 'connect-tcp', '127.0.0.1', String(port))).toBe('ok');
    // The server's accept callback may run a moment after the sandbox's connect returned.
    for (let i = 0; i < 100 && accepted === before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(accepted).toBe(before + 1);
  });

  test('only the loopback interface exists', async () => {
    const r = await sh(sbx, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    expect(r.out.split('\n')).toEqual(['lo']);
  });

  test('DNS resolution fails: getent finds nothing and the resolver is unreachable', async () => {
    const r = await sh(sbx, 'getent hosts example.com; echo "exit=$?"');
    // getent's exit 2: "one or more keys not found".
    expect(r.out).toBe('exit=2');
    const ns = nameserver();
    if (ns !== undefined && !ns.startsWith('127.')) {
      expect(await attempt(sbx, 'send-udp', ns, '53')).toBe('ENETUNREACH');
    } else {
      // A loopback resolver (systemd-resolved) would be the sandbox's own empty loopback.
      expect(await attempt(sbx, 'connect-tcp', '127.0.0.53', '53')).toBe('ECONNREFUSED');
    }
  });
});
