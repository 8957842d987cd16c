export { NamespaceBackend, createNamespaceBackend } from './backend.js';
export { bwrapArgs, sandboxEnv, sandboxHostname, SANDBOX_GID, SANDBOX_UID, SANDBOX_USER } from './bwrap-args.js';
export type { BwrapArgsInput } from './bwrap-args.js';
export { launchArgv } from './launch.js';
export type { HostIds, LaunchInput } from './launch.js';
export { baseMounts, hostPathOf, planMounts, SANDBOX_PATHS } from './mounts.js';
export type { Mount, MountInputs, MountPlan, PathKind, SystemEntry } from './mounts.js';
export { NamespaceOptionsSchema, parseNamespaceOptions } from './options.js';
export type { NamespaceOptions } from './options.js';
