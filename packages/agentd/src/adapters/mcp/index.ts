export { McpHttp, MCP_PATH } from './http.js';
export { McpOperations } from './operations.js';
export type { McpDeps } from './operations.js';
export { TOOLS } from './tools.js';
export type { ToolContext, ToolSpec } from './tools.js';
export { DEFAULT_SESSION_LIMITS, SESSION_LABEL } from './sessions.js';
export type { SessionLimits } from './sessions.js';
