import type { Socket } from 'node:net';
import type { ApiKeyService } from '../../auth/api-key.js';
import type { AuthChain } from '../../auth/chain.js';
import type { PeerCredentials, Principal } from '../../auth/types.js';
import type { CapabilityRegistry } from '../../capabilities/index.js';
import type { CommandRegistry } from '../../commands/registry.js';
import type { IntentPipeline } from '../../pipeline/pipeline.js';
import type { SandboxManager } from '../../sandbox/manager.js';
import type { SessionManager } from '../../sandbox/sessions.js';
import type { StateStore } from '../../state/store.js';
import type { Logger } from '../../util/logger.js';
import type { DaemonMetrics } from './metrics.js';
import type { NetworkService } from '../../network/service.js';

/** Timeouts of both listeners (TCP and the Unix socket), from adapters.http. */
export interface HttpTimeouts {
  /** Whole request (headers and body) received within this, else 408 and close. */
  requestTimeoutMs: number;
  /** Request headers received within this. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
}

/** What the HTTP routes work with; built by the runtime. */
export interface HttpServices {
  pipeline: IntentPipeline;
  /** Every exec's record, output ring and controls by id (commands/). */
  commands: CommandRegistry;
  sandboxes: SandboxManager;
  sessions: SessionManager;
  capabilities: CapabilityRegistry;
  store: StateStore;
  apiKeys: ApiKeyService;
  /** The current auth chain (replaced on reload). */
  auth(): AuthChain;
  metrics: DaemonMetrics;
  /** The network service (egress rules, verify, ports); absent in tests that build the app alone. */
  network?: NetworkService;
  /** Backend and state ready (the /readyz answer). */
  ready(): Promise<{ ready: boolean; checks: Record<string, string> }>;
  /** Peer credentials of a Unix-socket connection (undefined for TCP). */
  peerOf(socket: Socket): PeerCredentials | undefined;
  /** Largest request body (bytes) for JSON routes, and for raw file uploads. */
  bodyLimit: number;
  timeouts: HttpTimeouts;
  /** Aborted when the daemon's stop grace period ends: in-flight work is cancelled. */
  stopping: AbortSignal;
  logger: Logger;
  version: string;
  /** The E2B API (adapters/e2b, config `adapters.e2b`); absent = off. */
  e2b?: { domain: string };
}

declare module 'fastify' {
  interface FastifyRequest {
    rawBody: Buffer | undefined;
    principal: Principal | undefined;
    /** The headers passed, the body-covering check (a signature) is still to do. */
    authPending: boolean;
  }
}
