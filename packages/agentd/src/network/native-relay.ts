import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { nativePaths } from '../native-paths.js';

/**
 * The egress proxy's relay once a connection is decided (native/relay/addon.c): both sockets'
 * descriptors go to one background thread that moves the bytes with splice(2), so a download
 * costs the daemon's JavaScript nothing per chunk. The sockets' Node handles are closed at once;
 * the byte counts come back when both directions ended (or either socket failed).
 */

interface RelayAddon {
  relay(fdA: number, fdB: number, headA: Buffer | null, headB: Buffer | null, done: (err: number, aToB: number, bToA: number) => void): void;
}

let addon: RelayAddon | null | undefined;

function load(): RelayAddon | null {
  if (addon !== undefined) return addon;
  const path = nativePaths().relayAddon;
  try {
    addon = existsSync(path) ? (createRequire(import.meta.url)(path) as RelayAddon) : null;
  } catch {
    addon = null;
  }
  return addon;
}

/** Whether the native relay is there (built: `make -C packages/agentd/native`). */
export function nativeRelayAvailable(): boolean {
  return load() !== null;
}

interface Handle {
  fd?: unknown;
  readStop?: () => number;
  reading?: boolean;
}

function fdOf(s: Socket): number | undefined {
  const fd = (s as unknown as { _handle?: Handle | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** What the sandbox sent and the upstream returned, as the JavaScript relay counts them. */
export type RelayEnd = (bytesUp: number, bytesDown: number) => void;

/**
 * Hands `client` and `up` to the native relay. False (nothing changed) when it cannot: no
 * addon, a socket without a descriptor or closed, or a write of ours not yet flushed; the
 * caller relays in JavaScript then. Bytes the client socket already holds (read but not
 * consumed) are written upstream first, and the upstream's the other way.
 */
export function nativeRelay(client: Socket, up: Socket, onEnd: RelayEnd): boolean {
  const a = load();
  if (!a) return false;
  if (client.destroyed || up.destroyed || client.writableLength > 0 || up.writableLength > 0 || up.readableEnded || client.readableEnded) return false;
  const cfd = fdOf(client);
  const ufd = fdOf(up);
  if (cfd === undefined || ufd === undefined) return false;
  // Stop Node reading either socket: from here on only the relay thread reads them.
  for (const s of [client, up]) {
    const h = (s as unknown as { _handle: Handle })._handle;
    h.readStop?.();
    h.reading = false;
    (s as unknown as { _read: () => void })._read = () => undefined;
  }
  const headUp = client.readableLength > 0 ? (client.read() as Buffer | null) : null;
  const headDown = up.readableLength > 0 ? (up.read() as Buffer | null) : null;
  const sentUp = up.bytesWritten;
  const readDown = up.bytesRead;
  const already = headDown?.length ?? 0;
  try {
    a.relay(cfd, ufd, headUp, headDown, (_err, aToB, bToA) => onEnd(sentUp + aToB, readDown + bToA - already));
  } catch {
    // Nothing was handed over; the data taken out goes back where the JavaScript relay finds it.
    if (headUp) client.unshift(headUp);
    if (headDown) up.unshift(headDown);
    for (const s of [client, up]) delete (s as unknown as { _read?: unknown })._read;
    return false;
  }
  // The relay owns duplicates of both descriptors: closing Node's handles sends nothing.
  client.destroy();
  up.destroy();
  return true;
}
