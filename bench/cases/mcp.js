/**
 * mcp_exec_true: `true` in the same namespace sandbox as ns_exec_true, as an MCP tool call
 * (`sandbox_exec` with its sandbox_id) over streamable HTTP at the daemon's /mcp, from the MCP
 * SDK's own client in this process (one session, initialized before timing, as a host keeps it).
 */
import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export async function openMcp({ daemon, sandboxId }) {
  // The local token, read at each request as the CLI and the SDK do.
  const fetchWithToken = (url, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${readFileSync(daemon.tokenFile, 'utf8').trim()}`);
    return fetch(url, { ...init, headers });
  };
  const transport = new StreamableHTTPClientTransport(new URL(`${daemon.url}/mcp`), { fetch: fetchWithToken });
  const client = new Client({ name: 'agentd-bench', version: '0' });
  await client.connect(transport);
  return {
    async execTrue() {
      const r = await client.callTool({ name: 'sandbox_exec', arguments: { sandbox_id: sandboxId, argv: ['true'] } });
      const text = r.content?.[0]?.text ?? '';
      if (r.isError === true || JSON.parse(text).exit_code !== 0) throw new Error(`mcp sandbox_exec true failed: ${text}`);
    },
    async close() {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}
