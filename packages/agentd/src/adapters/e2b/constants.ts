/** The E2B wire numbers agentd speaks (docs/e2b.md). */

/** The port of E2B's in-sandbox daemon (envd): `E2b-Sandbox-Port` with this value goes to the envd routes. */
export const ENVD_PORT = 49983;

/**
 * The envd version reported to the SDK (create, connect, info). The SDK turns features on by
 * it: >= 0.4.0 no default `user`, >= 0.5.2 CloseStdin, >= 0.5.7 octet-stream uploads; below
 * 0.6.2 it refuses file metadata itself, below 0.6.3 `includeEntry` in watchDir.
 */
export const ENVD_VERSION = '0.5.7';

/** The template id the SDK sends by default: agentd's default sandbox (no template). */
export const BASE_TEMPLATE = 'base';

/** Where the control plane lives on the daemon's listener (`E2B_API_URL=http://HOST:PORT/e2b`). */
export const CONTROL_PREFIX = '/e2b';

/** Rewritten in-sandbox requests: envd routes and the port relay (routing.ts). */
export const ENVD_PREFIX = '/e2b/envd';
export const PORT_PREFIX = '/e2b/port';

/** Default sandbox timeout when create names none (the SDK's default is 300 s too). */
export const DEFAULT_TIMEOUT_S = 300;
