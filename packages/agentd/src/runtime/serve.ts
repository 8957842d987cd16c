import { pino } from 'pino';
import { loadConfig, type LoadConfigOptions } from '../config/load.js';
import type { AgentdConfig } from '../config/schema.js';
import { createBuiltinRegistry } from '../isolation/builtins.js';
import { toAgentdError } from '../core/errors.js';
import type { Logger } from '../util/logger.js';
import { startDaemon, type Daemon, type StartDaemonOptions } from './daemon.js';

export interface ServeOptions {
  /** --config FILE */
  config?: string;
  /** --listen HOST:PORT */
  listen?: string;
  /** --socket PATH */
  socket?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra daemon options (tests). */
  daemon?: StartDaemonOptions;
}

function loggerFor(config: AgentdConfig): Logger {
  return pino({ level: config.log.level, base: { name: 'agentd' } }, pino.destination({ fd: 2, sync: false }));
}

function loadOptions(opts: ServeOptions): LoadConfigOptions {
  const overrides: Record<string, unknown> = {};
  const adapters: Record<string, unknown> = {};
  if (opts.listen !== undefined) adapters.http = { listen: opts.listen };
  if (opts.socket !== undefined) adapters.unix = { path: opts.socket };
  if (Object.keys(adapters).length > 0) overrides.adapters = adapters;
  const registry = createBuiltinRegistry();
  return {
    ...(opts.config === undefined ? {} : { file: opts.config }),
    env: opts.env ?? process.env,
    overrides,
    overrideSources: { 'adapters.http.listen': '--listen', 'adapters.unix.path': '--socket' },
    // Backend options are part of the config: a bad one fails the load (and a SIGHUP reload).
    checkBackendOptions: (backends) => registry.checkOptions(backends),
  };
}

/**
 * `agentd serve`: loads and validates the config (flags over env over file), starts the
 * daemon, logs JSON to stderr, and handles signals: SIGTERM/SIGINT stop gracefully, SIGHUP
 * reloads the config (validated first: a bad file keeps the running config and logs why).
 * Resolves when the daemon has stopped.
 */
export async function serveCommand(opts: ServeOptions = {}): Promise<void> {
  const config = await loadConfig(loadOptions(opts));
  const logger = loggerFor(config);
  const daemon: Daemon = await startDaemon(config, { ...opts.daemon, logger });
  // One machine-readable line on stdout for whoever started us (tests, supervisors).
  process.stdout.write(`${JSON.stringify({ event: 'ready', address: daemon.address ?? null, socket: daemon.socketPath ?? null, backend: daemon.backend, pid: process.pid })}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stop requested');
      daemon.close().then(resolve, (err: unknown) => {
        logger.error({ err: toAgentdError(err).message }, 'stop failed');
        resolve();
      });
    };
    const reload = (): void => {
      logger.info({}, 'SIGHUP: reloading the configuration');
      loadConfig(loadOptions(opts))
        .then((next) => daemon.reload(next))
        .then(() => process.stdout.write(`${JSON.stringify({ event: 'reloaded' })}\n`))
        .catch((err: unknown) => {
          const e = toAgentdError(err);
          logger.error({ code: e.code, err: e.message, details: e.details }, 'reload failed: keeping the running configuration');
          process.stdout.write(`${JSON.stringify({ event: 'reload_failed', code: e.code, message: e.message })}\n`);
        });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', reload);
  });
}
