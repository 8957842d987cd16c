import { isIP } from 'node:net';

export interface ListenAddress {
  /** Host without brackets ("127.0.0.1", "::1", "localhost", "0.0.0.0"). */
  host: string;
  /** 0 asks the OS for a free port. */
  port: number;
}

const LISTEN_PATTERN = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** Parses "HOST:PORT" ("[::1]:7070" for IPv6); undefined when malformed. */
export function parseListen(listen: string): ListenAddress | undefined {
  const m = LISTEN_PATTERN.exec(listen);
  if (!m) return undefined;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (host === undefined || port > 65_535) return undefined;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}

/** True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}
