/**
 * @agentd/daemon's public entry: embed a daemon, drive backends directly, or register your own.
 * Everything else is internal.
 */
export { startDaemon, serveCommand, AGENTD_VERSION } from './runtime/index.js';
export type { Daemon, StartDaemonOptions, ServeOptions, RecoveryResult } from './runtime/index.js';
export { loadConfig, parseConfig, checkConfigFile, InvalidConfigError } from './config/index.js';
export type { AgentdConfig, ConfigIssue } from './config/index.js';
export { AgentdError, SandboxOsError } from './core/errors.js';
export { ERROR_CODES } from './core/codes.js';
export type { ErrorCode } from './core/codes.js';
export type { IntentRequest, IntentResponse, IntentStatus, IntentResult } from './core/intent.js';
export { BackendRegistry } from './isolation/registry.js';
export { createBuiltinRegistry } from './isolation/builtins.js';
export { selectBackend } from './isolation/select.js';
export type {
  BackendFactory, BackendFactoryContext, BackendProbe, IsolationBackend, SandboxHandle, SandboxSpec, SandboxLimits, SandboxDirs, NetworkMode, ProfileName,
} from './isolation/types.js';
export { runCommand, streamCommand } from './channel/index.js';
export type { Channel, ExecRequest, CommandResult, CommandEvent, CommandOptions } from './channel/index.js';
