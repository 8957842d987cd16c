import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { connectionsCheckingInterval } from '../http/app.js';
import type { HttpTimeouts } from '../http/services.js';
import type { PeerCredentials } from '../../auth/types.js';
import { AgentdError } from '../../core/errors.js';
import type { Logger } from '../../util/logger.js';

export interface UnixListenerOptions {
  path: string;
  /** Permission bits of the socket file (e.g. 0o660). */
  mode: number;
  /** Reads SO_PEERCRED of an accepted connection (the peercred addon); undefined = no peer credentials. */
  readPeer?: (socket: Socket) => PeerCredentials;
  /** The same request, header and keep-alive timeouts as the TCP listener. */
  timeouts: HttpTimeouts;
  logger: Logger;
}

/** Is something answering on this socket path? */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The same fastify app served on a Unix socket. Each accepted connection's peer credentials
 * (uid/gid/pid) are read once and handed to auth through `peerOf`.
 */
export class UnixListener {
  private readonly peers = new WeakMap<Socket, PeerCredentials>();
  private server: Server | undefined;

  constructor(private readonly opts: UnixListenerOptions) {}

  peerOf(socket: Socket): PeerCredentials | undefined {
    return this.peers.get(socket);
  }

  async listen(app: FastifyInstance): Promise<void> {
    const { path, mode, readPeer, logger } = this.opts;
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const existing = await lstat(path).catch(() => undefined);
    if (existing) {
      if (!existing.isSocket()) throw new AgentdError('ALREADY_EXISTS', `${path} exists and is not a socket; remove it or choose another adapters.unix.path`);
      if (await socketAlive(path)) throw new AgentdError('ALREADY_EXISTS', `another process already listens on ${path}`);
      await unlink(path);
    }
    await app.ready();
    const t = this.opts.timeouts;
    const server = createServer(
      { requestTimeout: t.requestTimeoutMs, headersTimeout: t.headersTimeoutMs, keepAliveTimeout: t.keepAliveTimeoutMs, connectionsCheckingInterval: connectionsCheckingInterval(t) },
      (req, res) => app.routing(req, res),
    );
    // WebSocket upgrades (adapters/http/ws.ts) go through the app's one upgrade handler, which routes them like any request.
    server.on('upgrade', (req, socket, head) => app.server.emit('upgrade', req, socket, head));
    server.on('connection', (socket: Socket) => {
      if (!readPeer) return;
      try {
        this.peers.set(socket, readPeer(socket));
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'could not read the peer credentials of a Unix socket caller');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A restrictive umask while binding, so the socket is never briefly more open than `mode`.
      const old = process.umask(0o177);
      try {
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(old);
      }
    });
    await chmod(path, mode);
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    await unlink(this.opts.path).catch(() => undefined);
  }

  /** Ends every connection now (after the grace period). */
  destroyConnections(): void {
    this.server?.closeAllConnections();
  }
}
