/** Where a sandbox sees its network folder (the daemon's `<home>/net/<id>`, bound read-only). */
export const SANDBOX_NET_DIR = '/.agentd/net';
