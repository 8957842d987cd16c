import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { AgentdError } from '../core/errors.js';
import { nativePaths } from '../native-paths.js';
import type { PeerCredentials } from './types.js';

interface PeercredAddon {
  getPeerCred(fd: number): PeerCredentials;
}

/**
 * Loads the SO_PEERCRED addon (native/build/peercred.node, `make -C packages/agentd/native`).
 * Returns a reader of the peer credentials of accepted Unix-socket connections.
 */
export function loadPeerCredReader(addonPath: string = nativePaths().peercredAddon): (socket: Socket) => PeerCredentials {
  if (!existsSync(addonPath)) {
    throw new AgentdError('UNAVAILABLE', `peer-credentials addon not found at ${addonPath}; build it with 'make -C packages/agentd/native'`);
  }
  const addon = createRequire(import.meta.url)(addonPath) as PeercredAddon;
  return (socket: Socket): PeerCredentials => {
    // net.Socket keeps its file descriptor on the internal libuv handle.
    const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) {
      throw new AgentdError('INTERNAL', 'cannot read peer credentials: the socket has no file descriptor (not a Unix socket, or closed)');
    }
    return addon.getPeerCred(fd);
  };
}
