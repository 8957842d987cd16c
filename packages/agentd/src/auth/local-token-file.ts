/**
 * The local token's file name in the daemon's home, on its own so the CLI's client commands can
 * name it without loading local-token.ts (which imports node:crypto: a few ms of every start).
 */
export const LOCAL_TOKEN_FILE = 'agentd.token';
