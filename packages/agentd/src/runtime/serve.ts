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

/** Exit status of a process ended by `signal` (what the default action would have given). */
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * `agentd serve`: loads and validates the config (flags over env over file), starts the
 * daemon, logs JSON to stderr, and handles signals: SIGTERM/SIGINT stop gracefully, SIGHUP
 * reloads the config (validated first: a bad file keeps the running config and logs why).
 * Resolves when the daemon has stopped.
 *
 * The handlers are installed before the daemon starts, so before the ready line tells anyone
 * it may signal: Node installs a signal's handler only when its first listener is added, and a
 * SIGHUP that arrived between the ready line and that (a supervisor or test reacting at once)
 * took the default action and ended the daemon. A SIGHUP during the start reloads once the
 * daemon is ready; a SIGTERM/SIGINT during the start stops it as soon as it is ready (a second
 * one exits at once, as the default action would).
 */
export async function serveCommand(opts: ServeOptions = {}): Promise<void> {
  const config = await loadConfig(loadOptions(opts));
  const logger = loggerFor(config);
  let daemon: Daemon | undefined;
  let stopAsked: NodeJS.Signals | undefined;
  let reloadAsked = false;
  let stopping = false;
  let stopped: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    stopped = resolve;
  });

  const stop = (signal: NodeJS.Signals): void => {
    if (daemon === undefined) {
      if (stopAsked !== undefined) process.exit(SIGNAL_EXIT[signal] ?? 1);
      stopAsked = signal;
      logger.info({ signal }, 'stop requested while starting: stopping once started (send it again to exit now)');
      return;
    }
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stop requested');
    daemon.close().then(stopped, (err: unknown) => {
      logger.error({ err: toAgentdError(err).message }, 'stop failed');
      stopped();
    });
  };
  const reload = (): void => {
    if (daemon === undefined) {
      reloadAsked = true;
      logger.info({}, 'SIGHUP while starting: reloading the configuration once started');
      return;
    }
    if (stopping) return;
    const running = daemon;
    logger.info({}, 'SIGHUP: reloading the configuration');
    loadConfig(loadOptions(opts))
      .then((next) => running.reload(next))
      .then(() => process.stdout.write(`${JSON.stringify({ event: 'reloaded' })}\n`))
      .catch((err: unknown) => {
        const e = toAgentdError(err);
        logger.error({ code: e.code, err: e.message, details: e.details }, 'reload failed: keeping the running configuration');
        process.stdout.write(`${JSON.stringify({ event: 'reload_failed', code: e.code, message: e.message })}\n`);
      });
  };
  const onHup = (): void => reload();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', onHup);
  const unlisten = (): void => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('SIGHUP', onHup);
  };

  try {
    daemon = await startDaemon(config, { ...opts.daemon, logger });
  } catch (err) {
    unlisten();
    throw err;
  }
  // One machine-readable line on stdout for whoever started us (tests, supervisors).
  process.stdout.write(`${JSON.stringify({ event: 'ready', address: daemon.address ?? null, socket: daemon.socketPath ?? null, backend: daemon.backend, pid: process.pid })}\n`);
  if (stopAsked !== undefined) stop(stopAsked);
  else if (reloadAsked) reload();
  await done;
  unlisten();
}
