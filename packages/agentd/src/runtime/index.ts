export { startDaemon, type Daemon, type StartDaemonOptions } from './daemon.js';
export { serveCommand, type ServeOptions } from './serve.js';
export type { RuntimeTuning } from './settings.js';
export type { RecoveryResult } from './recovery.js';
export { AGENTD_VERSION } from './version.js';
