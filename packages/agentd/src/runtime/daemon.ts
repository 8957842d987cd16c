import { createNetworkService } from '../network/index.js';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { ApiKeyService } from '../auth/api-key.js';
import type { AuthChain } from '../auth/chain.js';
import { createAuthChain } from '../auth/factory.js';
import { localTokenPath, newLocalToken, removeLocalToken, writeLocalToken } from '../auth/local-token.js';
import { loadPeerCredReader } from '../auth/peercred-native.js';
import { ReplayCache } from '../auth/replay-cache.js';
import { createCapabilityRegistry, OutputBudget } from '../capabilities/index.js';
import { parseListen } from '../config/listen.js';
import type { AgentdConfig } from '../config/schema.js';
import { AgentdError } from '../core/errors.js';
import { sandboxesDir } from '../isolation/dirs.js';
import { createBuiltinRegistry } from '../isolation/builtins.js';
import { assertConfigHostPaths } from '../isolation/host-paths.js';
import type { BackendRegistry } from '../isolation/registry.js';
import { chooseBackend } from '../isolation/select.js';
import { requireInitPath } from '../native-paths.js';
import { buildHttpApp } from '../adapters/http/app.js';
import { DaemonMetrics } from '../adapters/http/metrics.js';
import { UnixListener } from '../adapters/unix/listener.js';
import { IntentPipeline, type DaemonLimits } from '../pipeline/pipeline.js';
import { CommandRegistry } from '../commands/registry.js';
import { defaultPolicy, type PolicyHook } from '../pipeline/policy.js';
import { SandboxManager } from '../sandbox/manager.js';
import { SessionManager } from '../sandbox/sessions.js';
import { Sweeper } from '../sandbox/sweeper.js';
import { openStateStore, type StateStore } from '../state/store.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { DaemonBackends } from './backends.js';
import { assertDefaultLimits } from './default-limits.js';
import { lockHome } from './home-lock.js';
import { recoverAtStart, type RecoveryResult } from './recovery.js';
import { hostPathRulesFrom, managerOptionsFrom, sessionDefaultsFrom, type RuntimeTuning } from './settings.js';
import { AGENTD_VERSION } from './version.js';

export interface StartDaemonOptions extends RuntimeTuning {
  logger?: Logger;
  /** Backends to use (default: the built-in ones). */
  registry?: BackendRegistry;
  policy?: PolicyHook;
  /** Clock for state and auth (tests). */
  now?: () => number;
}

export interface Daemon {
  /** `http://HOST:PORT` of the TCP listener (undefined when adapters.http is off). */
  readonly address: string | undefined;
  /** The Unix socket path (undefined when adapters.unix is off). */
  readonly socketPath: string | undefined;
  /** `<home>/agentd.token` while the local-token provider is configured (auth/local-token.ts), else undefined. */
  readonly tokenFile: string | undefined;
  readonly config: AgentdConfig;
  /** The backend new sandboxes get by default (after `auto` was resolved). */
  readonly backend: string;
  readonly recovery: RecoveryResult;
  /** Every route fastify registered ("GET /v1/sandboxes/{id}"): the OpenAPI drift check compares it with /openapi.json. */
  readonly routes: readonly string[];
  readonly manager: SandboxManager;
  readonly store: StateStore;
  /** Applies a new, already validated config (auth, pool, limits, timeouts); listeners and profile need a restart. */
  reload(config: AgentdConfig): Promise<void>;
  /** Graceful stop: stop accepting, let in-flight requests finish for up to the grace period, then cancel them; stop sandboxes (files kept); flush state. */
  close(): Promise<void>;
}

/**
 * Probes every backend (they are all kept: a request may name another one) and chooses the
 * default like the CLI does (chooseBackend): refuses a soft backend under server/paranoid
 * (or require_kernel), and an unavailable one anywhere.
 */
async function pickBackend(config: AgentdConfig, backends: DaemonBackends, registry: BackendRegistry, logger: Logger): Promise<string> {
  const probes = await backends.probeAll();
  const { profile, isolation } = config;
  // The daemon's errors name the canonical backend, not the alias the config used.
  const backend = isolation.backend === 'auto' ? 'auto' : backends.canonical(isolation.backend);
  const { name, probe } = chooseBackend(registry, { profile, backend, requireKernel: isolation.require_kernel }, probes, (n) => backends.get(n));
  if (probe.isolation === 'none') logger.warn({ backend: name, profile }, `sandboxes use backend '${name}': NO isolation, commands run on the host`);
  return name;
}

/** Opens state, recovers from an earlier run, builds auth, backends, manager and adapters, and starts listening. */
export async function startDaemon(initial: AgentdConfig, opts: StartDaemonOptions = {}): Promise<Daemon> {
  const logger = opts.logger ?? silentLogger;
  let config = initial;
  const registry = opts.registry ?? createBuiltinRegistry();
  const initPath = requireInitPath();
  // A new home is made traversable (not listable) by others: the namespace backend runs
  // sandboxes as an unprivileged host uid that must reach sandboxes/<id>/. state.db is 0600.
  await mkdir(config.home, { recursive: true, mode: 0o711 });
  // The home lock comes first: a second daemon on this home stops here, before state, recovery or sockets.
  const homeLock = lockHome(config.home);
  let store: StateStore;
  try {
    store = openStateStore({ home: config.home, logger, ...(opts.now ? { now: opts.now } : {}) });
  } catch (err) {
    homeLock.release();
    throw err;
  }
  const cleanups: Array<() => Promise<void> | void> = [() => homeLock.release(), () => store.close()];
  const fail = async (err: unknown): Promise<never> => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    throw err;
  };
  try {
    const backends = new DaemonBackends({
      registry, initPath, options: config.isolation.backends, profile: config.profile, requireKernel: config.isolation.require_kernel, logger,
    });
    // Every backend cleans what an earlier run left of this home's sandboxes (its recover()).
    const recovery = await recoverAtStart(store, config.home, backends.forRecovery(), logger);

    const backend = await pickBackend(config, backends, registry, logger);
    // The config's own host paths are checked on this host now: a bad one fails the start, not every create.
    await assertConfigHostPaths(hostPathRulesFrom(config));
    assertDefaultLimits(config, backend, backends.probeOf(backend));
    // What the backend needs of the home (the namespace backend: reachable by the sandboxes' uids), checked now, not at every create.
    await backends.get(backend).prepareHome?.(sandboxesDir(config.home));
    cleanups.push(() => backends.closeAll());

    // One replay cache for the daemon's life: a fresh one at a reload would accept once more a signature seen just before it.
    const replayCache = new ReplayCache();
    // The local token: a new one at every start, written 0600 into the home, removed at stop.
    let localToken: string | undefined;
    const syncLocalToken = async (c: AgentdConfig): Promise<void> => {
      const wanted = c.auth.providers.some((p) => p.type === 'local-token');
      if (wanted && localToken === undefined) {
        const token = newLocalToken();
        await writeLocalToken(c.home, token);
        localToken = token;
      } else if (!wanted && localToken !== undefined) {
        const old = localToken;
        localToken = undefined;
        await removeLocalToken(c.home, old);
      }
    };
    await syncLocalToken(config);
    cleanups.push(() => (localToken === undefined ? undefined : removeLocalToken(config.home, localToken)));
    const authContext = { state: store, logger, replayCache, localToken: () => localToken, ...(opts.now ? { now: opts.now } : {}) };
    let auth: AuthChain = createAuthChain(config.auth, { profile: config.profile, ...authContext });
    const apiKeys = new ApiKeyService(store.apiKeys, opts.now);
    const network = createNetworkService(config.home, () => config, store, logger);
    const manager = new SandboxManager(managerOptionsFrom(config, backend, opts), { store, backends, logger, network, ...(opts.now ? { now: opts.now } : {}) });
    cleanups.push(() => network.close());
    cleanups.push(() => manager.close());
    const sessions = new SessionManager(store.sessions, manager, sessionDefaultsFrom(config, opts), logger, opts.now);
    const metrics = new DaemonMetrics({
      sandboxesByState: () => store.sandboxes.countByState(), stats: () => manager.stats(), capabilities: createCapabilityRegistry().ids(),
    });
    network.useRegistry(metrics.registry);
    const limits = (): DaemonLimits => ({
      maxExecTimeoutMs: config.limits.max_exec_timeout_ms, maxOutputBytes: config.limits.max_output_bytes, maxConcurrentExecs: config.limits.max_concurrent_execs,
    });
    // Audit retention: at start, then at most once a minute (the count query walks the index).
    let auditPrunedAt = Number.NEGATIVE_INFINITY;
    const auditRetention = (): void => {
      const t = Date.now();
      if (t - auditPrunedAt < 60_000) return;
      auditPrunedAt = t;
      const deleted = store.audit.applyRetention({ maxAgeMs: config.audit.max_age_ms, maxEvents: config.audit.max_events });
      if (deleted > 0) logger.info({ deleted }, 'audit retention: old events deleted');
    };
    auditRetention();
    const outputBudget = new OutputBudget(() => config.limits.max_buffered_output_bytes);
    const pipeline = new IntentPipeline({
      capabilities: createCapabilityRegistry({ outputBudget }), sandboxes: manager, sessions, policy: opts.policy ?? defaultPolicy, audit: store.audit, idempotency: store.idempotency,
      observer: metrics, profile: () => config.profile, limits, logger, ...(opts.now ? { now: opts.now } : {}),
    });
    const commands = new CommandRegistry({
      pipeline, repo: store.commands, logger, maxExecTimeoutMs: () => config.limits.max_exec_timeout_ms,
      settings: () => ({
        ringBufferBytes: config.commands.ring_buffer_bytes, keepExitedMs: config.commands.keep_exited_ms,
        maxKept: config.commands.max_kept, persistedTailBytes: config.commands.persisted_tail_bytes,
      }),
      ...(opts.now ? { now: opts.now } : {}),
    });
    const commandRecovery = commands.start();
    if (commandRecovery.lost > 0) logger.warn({ lost: commandRecovery.lost }, 'commands that were running when the daemon stopped are listed as lost');
    cleanups.push(() => commands.close());
    const sweeper = new Sweeper([
      { name: 'sandbox-ttl', run: () => manager.sweepExpired() },
      { name: 'pool-recycle', run: () => manager.recyclePool() },
      { name: 'session-timeouts', run: () => sessions.sweep() },
      { name: 'sandbox-idle', run: () => manager.sweepIdle((id) => sessions.holds(id)) },
      { name: 'snapshot-retention', run: () => manager.sweepSnapshots() },
      { name: 'idempotency-prune', run: async () => store.idempotency.prune() },
      { name: 'audit-retention', run: async () => auditRetention() },
    ], logger);
    cleanups.push(() => sweeper.stop());

    let readPeer: ReturnType<typeof loadPeerCredReader> | undefined;
    if (config.adapters.unix.enabled) {
      try {
        readPeer = loadPeerCredReader();
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'Unix socket callers cannot be identified by peer credentials');
      }
    }
    const timeouts = {
      requestTimeoutMs: config.adapters.http.request_timeout_ms, headersTimeoutMs: config.adapters.http.headers_timeout_ms, keepAliveTimeoutMs: config.adapters.http.keep_alive_timeout_ms,
    };
    const unix = config.adapters.unix.enabled
      ? new UnixListener({ path: config.adapters.unix.path, mode: config.adapters.unix.mode, timeouts, ...(readPeer ? { readPeer } : {}), logger })
      : undefined;
    const stopping = new AbortController();
    const http = buildHttpApp({
      pipeline, commands, sandboxes: manager, sessions, capabilities: createCapabilityRegistry(), store, apiKeys, auth: () => auth, metrics, network,
      ready: async () => {
        const checks: Record<string, string> = {};
        checks.state = store.healthy() ? 'ok' : 'unhealthy';
        const probe = backends.probeOf(backend);
        checks.backend = probe?.available ? 'ok' : `unavailable: ${probe?.reason ?? 'not probed'}`;
        checks.stopping = stopping.signal.aborted ? 'yes' : 'no';
        return { ready: checks.state === 'ok' && checks.backend === 'ok' && !stopping.signal.aborted, checks };
      },
      peerOf: (socket) => unix?.peerOf(socket),
      // Both caps hold for every request on both listeners: the HTTP body limit and the intent size limit.
      bodyLimit: Math.min(config.adapters.http.body_limit_bytes, config.limits.max_request_bytes),
      timeouts,
      stopping: stopping.signal,
      logger,
      version: AGENTD_VERSION,
      ...(config.adapters.e2b?.enabled === false ? {} : { e2b: { domain: config.adapters.e2b?.domain ?? 'agentd.localhost' } }),
    });
    cleanups.push(() => http.app.close());

    let address: string | undefined;
    if (config.adapters.http.enabled) {
      const listen = parseListen(config.adapters.http.listen);
      if (!listen) throw new AgentdError('INVALID_CONFIG', `adapters.http.listen: cannot parse '${config.adapters.http.listen}'`);
      await http.app.listen({ host: listen.host, port: listen.port });
      const a = http.app.server.address() as AddressInfo;
      address = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    } else {
      await http.app.ready();
    }
    if (unix) {
      await unix.listen(http.app);
      cleanups.push(() => unix.close());
    }
    network.endpoints = { ports: address === undefined ? [] : [Number(new URL(address).port)], sockets: unix ? [config.adapters.unix.path] : [] };
    manager.startPool();
    sweeper.start(managerOptionsFrom(config, backend, opts).sweepIntervalMs);
    logger.info({ address, socket: unix ? config.adapters.unix.path : undefined, backend, profile: config.profile, auth: auth.names }, 'agentd is ready');

    let closing: Promise<void> | undefined;
    const daemon: Daemon = {
      address,
      socketPath: unix ? config.adapters.unix.path : undefined,
      get tokenFile() {
        return localToken === undefined ? undefined : localTokenPath(config.home);
      },
      get config() {
        return config;
      },
      backend,
      recovery,
      routes: http.registered,
      manager,
      store,
      async reload(next) {
        if (next.profile !== config.profile) throw new AgentdError('INVALID_CONFIG', `profile change (${config.profile} -> ${next.profile}) needs a restart`);
        await assertConfigHostPaths(hostPathRulesFrom(next));
        assertDefaultLimits(next, backend, backends.probeOf(backend));
        const newAuth = createAuthChain(next.auth, { profile: next.profile, ...authContext });
        await syncLocalToken(next);
        if (next.adapters.http.listen !== config.adapters.http.listen || next.adapters.unix.path !== config.adapters.unix.path) {
          logger.warn({}, 'listen address or socket path changed: takes effect at the next restart');
        }
        auth = newAuth;
        config = next;
        manager.reconfigure(managerOptionsFrom(next, backend, opts));
        sessions.reconfigure(sessionDefaultsFrom(next, opts));
        logger.info({ auth: auth.names }, 'configuration reloaded');
      },
      close() {
        closing ??= (async () => {
          const grace = opts.stopGraceMs ?? 5000;
          logger.info({ grace_ms: grace }, 'stopping: no new requests, waiting for in-flight ones');
          const timer = setTimeout(() => {
            stopping.abort(new AgentdError('UNAVAILABLE', 'the daemon is stopping'));
            // A client that keeps a request open (a half-sent body, an unread stream) would
            // otherwise hold app.close() forever: past the grace, every connection goes.
            http.app.server.closeAllConnections();
            unix?.destroyConnections();
          }, grace);
          timer.unref();
          await Promise.allSettled([http.app.close(), unix?.close()]);
          clearTimeout(timer);
          stopping.abort(new AgentdError('UNAVAILABLE', 'the daemon is stopping'));
          await sweeper.stop();
          await manager.close();
          // Sandboxes' network sockets (egress, ports) that a stop left attached.
          await network.close();
          commands.close();
          await backends.get(backend).close?.().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'backend close'));
          if (localToken !== undefined) await removeLocalToken(config.home, localToken);
          store.close();
          homeLock.release();
          logger.info({}, 'stopped');
        })();
        return closing;
      },
    };
    return daemon;
  } catch (err) {
    return fail(err);
  }
}
