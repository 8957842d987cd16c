import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { runCommand } from '../channel/lifecycle.js';
import { AgentdError } from '../core/errors.js';
import type { SandboxHandle } from '../isolation/types.js';
import type { NetworkService } from './service.js';
import { VERIFY_SCRIPT } from './verify-script.js';

/**
 * `agentd network verify`: a fixed set of bypass attempts run inside the sandbox (as any code
 * there could), each reported held or broken. A probe server of the daemon's own, on the host's
 * loopback (and an abstract Unix socket in the host's network namespace), stands for the
 * targets that must stay out of reach; it also counts what reached it, so a probe whose
 * traffic arrived is "broken" whatever the sandbox reports. Names of the probe-only domain
 * `agentd-verify.invalid` are added to the sandbox's allowlist while the run lasts (a listed
 * name resolving to loopback; listed names for the SNI and redirect probes).
 */

export const PROBES = [
  'direct-tcp-ip', 'ipv6', 'udp-dns', 'doh', 'connect-ip-literal', 'connect-rebind', 'sni-mismatch', 'redirect', 'metadata', 'daemon-ports', 'daemon-socket', 'abstract-unix',
] as const;

export interface VerifyTargets {
  /** Direct TCP to an IP address outside (default a TEST-NET-1 address: nothing answers). */
  tcp: string;
  tcp6: string;
  /** UDP DNS to an outside resolver. */
  dns: string;
  metadata: string;
  /** A name not in the allowlist, asked through the proxy (never resolved: refused first). */
  doh_host: string;
  /** Extra Unix socket paths to try besides the daemon's own. */
  sockets: string[];
}

export interface VerifyProbe {
  name: string;
  result: 'held' | 'broken' | 'error';
  detail: string;
}

export interface VerifyReport {
  sandbox_id: string;
  network: string;
  held: boolean;
  probes: VerifyProbe[];
}

export const DOMAIN = 'agentd-verify.invalid';

interface Sink {
  port: number;
  abstract: string;
  seen: Set<string>;
  close(): void;
}

async function startSink(nonce: string): Promise<Sink> {
  const seen = new Set<string>();
  let port = 0;
  const onConn = (s: Socket): void => {
    s.on('error', () => undefined);
    s.setTimeout(5000, () => s.destroy());
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]).subarray(0, 65536);
      const text = buf.toString('latin1');
      if (buf[0] === 0x16) seen.add('sni-mismatch');
      const tag = /probe=([a-z0-9-]+);nonce=([0-9a-f]+)/.exec(text);
      if (tag && tag[2] === nonce) seen.add(tag[1] ?? '');
      const xp = /\r\nX-Probe: ([a-z-]+)\r\n/i.exec(text);
      if (xp?.[1] === 'redirect-followed') seen.add('redirect');
      if (text.startsWith('GET /redirect')) {
        s.end(`HTTP/1.1 302 Found\r\nLocation: http://unlisted.${DOMAIN}:${port}/followed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      } else {
        s.end(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nAGENTD-VERIFY-${nonce}\n`);
      }
    });
  };
  const tcp: Server = createServer(onConn);
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  port = (tcp.address() as AddressInfo).port;
  const abstract = `agentd-verify-${nonce}`;
  const unix: Server = createServer((s) => {
    seen.add('abstract-unix');
    onConn(s);
  });
  await new Promise<void>((r) => unix.listen(`\0${abstract}`, r));
  return {
    port, abstract, seen,
    close() {
      tcp.close();
      unix.close();
    },
  };
}

export interface VerifyOptions {
  targets: VerifyTargets;
  daemonPorts: number[];
  daemonSockets: string[];
  timeoutMs?: number;
}

export async function runVerify(handle: SandboxHandle, net: NetworkService, opts: VerifyOptions): Promise<VerifyReport> {
  const nonce = randomBytes(8).toString('hex');
  const sink = await startSink(nonce);
  const listed = [`rebind.${DOMAIN}`, `sni.${DOMAIN}`, `redirect.${DOMAIN}`];
  net.setOverlay(handle.id, {
    hosts: Object.fromEntries([...listed, `unlisted.${DOMAIN}`].map((h) => [h, ['127.0.0.1']])),
    allow: [`rebind.${DOMAIN}`, `sni.${DOMAIN}:${sink.port}`, `redirect.${DOMAIN}:${sink.port}`],
    // Only the SNI and redirect probe names may reach the probe server: they must get a tunnel for the probe to mean anything.
    exempt: (host, address, port) => (host === `sni.${DOMAIN}` || host === `redirect.${DOMAIN}`) && address === '127.0.0.1' && port === sink.port,
  });
  try {
    const input = JSON.stringify({
      nonce, sink_port: sink.port, abstract: sink.abstract, targets: opts.targets, daemon_ports: opts.daemonPorts, sockets: [...opts.daemonSockets, ...opts.targets.sockets],
    });
    let result;
    try {
      result = await runCommand(handle.channel, { argv: ['python3', '-c', VERIFY_SCRIPT, input], env: { ...handle.baseEnv } }, { timeoutMs: opts.timeoutMs ?? 60_000, maxOutputBytes: 1 << 20 });
    } catch (err) {
      throw new AgentdError('EXEC_FAILED', `network verify needs python3 in the sandbox: ${(err as Error).message}`, { cause: err });
    }
    const byName = new Map<string, VerifyProbe>();
    for (const line of result.stdout.toString('utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const p = JSON.parse(line) as VerifyProbe;
        if ((PROBES as readonly string[]).includes(p.name) && !byName.has(p.name)) byName.set(p.name, { name: p.name, result: p.result === 'held' || p.result === 'broken' ? p.result : 'error', detail: String(p.detail) });
      } catch {
        // a line the script did not write: ignored
      }
    }
    const probes = PROBES.map((name): VerifyProbe => {
      const p = byName.get(name) ?? { name, result: 'error', detail: `no answer from the probe (exit ${result.exitCode ?? result.signal}; ${result.stderr.toString('utf8').trim().split('\n').pop() ?? ''})` };
      if (sink.seen.has(name)) return { name, result: 'broken', detail: `the daemon's probe server received this probe's traffic (${p.detail})` };
      return p;
    });
    return { sandbox_id: handle.id, network: handle.spec.network, held: probes.every((p) => p.result === 'held'), probes };
  } finally {
    net.clearOverlay(handle.id);
    sink.close();
  }
}
