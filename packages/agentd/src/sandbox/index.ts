export { SandboxManager } from './manager.js';
export { WarmPool, type PoolOptions, type PoolKey } from './pool.js';
export { SessionManager, SessionCreate, SESSION_LABEL, type SessionDefaults } from './sessions.js';
export { SandboxCreate, buildSpec, isPlainCreate, type ProfileDefaults } from './spec.js';
export { Sweeper } from './sweeper.js';
export { newId } from './ids.js';
export type { BackendSet, Lease, ManagerDeps, ManagerOptions, ManagerStats, ManagerStore } from './types.js';
