import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { HttpServices } from '../http/services.js';
import { registerControlPlane } from './control.js';
import { registerEnvdRoutes } from './envd.js';
import type { EnvdAuthDeps } from './envd/auth.js';
import { createEnvdRpc } from './envd/rpc.js';
import { E2bKeys } from './keys.js';
import { handleE2bUpgrade, registerPortRelay } from './ports.js';
import { startAutoPause } from './sweeper.js';

export { e2bRewriteUrl } from './routing.js';

/** What the E2B plane needs of the config (`adapters.e2b`): absent = the plane is off. */
export interface E2bOptions {
  /** The domain of `<port>-<id>.<domain>` Hosts, and what create returns as the sandbox's domain. */
  domain: string;
}

/**
 * The E2B API on the daemon's listener (docs/e2b.md): the control plane under `/e2b`, the
 * in-sandbox plane (envd routes and the port relay) for requests that routing.ts rewrote.
 * Returns the upgrade handler for WebSockets to sandbox ports.
 */
export function registerE2b(app: FastifyInstance, svc: HttpServices, opts: E2bOptions): { upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean } {
  const keys = new E2bKeys(svc.store.apiKeys, svc.store.now);
  const auth: EnvdAuthDeps = { store: svc.store, sandboxes: svc.sandboxes, keys };
  registerControlPlane(app, { svc, keys, domain: opts.domain });
  registerEnvdRoutes(app, svc, auth, createEnvdRpc(svc));
  registerPortRelay(app, svc, auth);
  const sweeper = startAutoPause(svc);
  app.addHook('preClose', async () => sweeper.stop());
  return { upgrade: (req, socket, head) => handleE2bUpgrade(svc, auth, opts.domain, req, socket, head) };
}
