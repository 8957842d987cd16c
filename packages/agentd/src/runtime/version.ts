/** The daemon's version (kept equal to packages/agentd/package.json). */
export const AGENTD_VERSION = '0.1.0';
