import { randomBytes } from 'node:crypto';
import { createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import { AgentdError } from '../core/errors.js';
import type { Channel } from '../channel/types.js';

/**
 * Ports of a sandbox exposed on the host (docs/network.md, "Ports"). The daemon listens on
 * the host (loopback only) and relays each connection into the sandbox's own network
 * namespace through agentd-init: the daemon sends NET_CONNECT (port, a fresh 16-byte token)
 * on the agent channel, the init's relay helper connects to 127.0.0.1:port inside and comes
 * back on the sandbox's ports socket with the token; the bytes then flow untouched (HTTP,
 * WebSocket, anything over TCP). So it works with network 'none' too.
 */

export interface PortSpec {
  /** Host address (loopback only). */
  host: string;
  /** Host port; 0 = any free one. */
  hostPort: number;
  /** The port inside the sandbox. */
  port: number;
}

function badPublish(spec: string, why: string): AgentdError {
  return new AgentdError('INVALID_ARGUMENT', `port '${spec}': ${why}`, { details: { publish: spec } });
}

const portNum = (spec: string, s: string, zeroOk: boolean): number => {
  if (!/^\d{1,5}$/.test(s)) throw badPublish(spec, `'${s}' is not a port number`);
  const n = Number(s);
  if ((n === 0 && !zeroOk) || n > 65535) throw badPublish(spec, `port ${n} is out of range (1-65535)`);
  return n;
};

/** Loopback only: an exposed port must not reach the network without the operator's own forwarding. */
export function isLoopback(host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** Docker's `-p` forms: `8080`, `9000:8080`, `127.0.0.1:9000:8080`, `[::1]:9000:8080` (host port 0: any free one). */
export function parsePublish(spec: string): PortSpec {
  const s = spec.trim();
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[0-9.]+):)?(?:(\d+):)?(\d+)(?:\/tcp)?$/.exec(s);
  if (!m) throw badPublish(spec, "expected PORT, HOSTPORT:PORT or IP:HOSTPORT:PORT (TCP only)");
  const host = (m[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) === 0) throw badPublish(spec, `'${host}' is not an IP address`);
  if (!isLoopback(host)) throw badPublish(spec, `host address ${host} is not loopback: ports are exposed on the host's loopback only (put your own forwarding in front)`);
  return { host, hostPort: m[2] === undefined ? 0 : portNum(spec, m[2], true), port: portNum(spec, m[3] ?? '', false) };
}

export interface ExposedPort {
  port: number;
  host: string;
  hostPort: number;
  server: Server;
}

/** What a port relay needs of the network service. */
export interface PortRelayDeps {
  channel(): Channel | undefined;
  expect(token: Buffer, cb: (sock: Socket | undefined, status: number) => void, timeoutMs: number): void;
}

/** Opens one connection to `port` inside the sandbox; resolves with the relayed socket. */
export function openSandboxPort(deps: PortRelayDeps, port: number, timeoutMs = 10_000): Promise<Socket> {
  const channel = deps.channel();
  if (!channel?.netConnect) return Promise.reject(new AgentdError('CONFLICT', 'the sandbox is not running (or its init has no network relay)'));
  const token = randomBytes(16);
  return new Promise<Socket>((resolve, reject) => {
    deps.expect(token, (sock, status) => {
      if (sock) resolve(sock);
      else reject(new AgentdError('UNAVAILABLE', `nothing accepts connections on port ${port} in the sandbox (${status === 111 ? 'ECONNREFUSED' : status === 110 ? 'timed out' : `errno ${status}`})`, { details: { port, errno: status } }));
    }, timeoutMs);
    channel.netConnect?.(port, token).catch((err: unknown) => reject(err instanceof AgentdError ? err : new AgentdError('UNAVAILABLE', `port relay: ${(err as Error).message}`, { cause: err })));
  });
}

/** Listens on the host and relays every connection to `spec.port` inside the sandbox. */
export async function exposePort(spec: PortSpec, deps: PortRelayDeps, onError: (err: Error) => void): Promise<ExposedPort> {
  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (client) => {
    client.on('error', () => undefined);
    openSandboxPort(deps, spec.port).then((inner) => {
      inner.on('error', () => client.destroy());
      client.on('error', () => inner.destroy());
      client.on('close', () => inner.destroy());
      inner.on('close', () => client.destroy());
      client.pipe(inner).pipe(client);
      client.resume();
      inner.resume();
    }, (err: Error) => {
      onError(err);
      client.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new AgentdError(err.code === 'EADDRINUSE' ? 'CONFLICT' : 'INVALID_ARGUMENT', `cannot listen on ${spec.host}:${spec.hostPort}: ${err.code ?? err.message}`, { cause: err })));
    server.listen(spec.hostPort, spec.host, resolve);
  });
  return { port: spec.port, host: spec.host, hostPort: (server.address() as AddressInfo).port, server };
}
