/**
 * `agentd mcp`: the MCP server over stdio, for an MCP host that starts it as a command
 * (`claude mcp add agentd -- agentd mcp`). It runs no tools itself: it relays each message to
 * the local daemon's streamable HTTP endpoint `/mcp` with the CLI's own credential discovery
 * (connection.ts), so every call passes the daemon's auth chain, policy, limits and audit as a
 * REST call does. Without a daemon it starts nothing and says how to start one.
 */
import { Command } from 'commander';
import { withClientFlags, type ClientFlags } from './connection.js';
import { guarded, UsageError } from './errors.js';
import type { CliIo } from './io.js';

export function mcpCommand(io: CliIo): Command {
  return withClientFlags(
    new Command('mcp')
      .description('MCP server over stdio for agent hosts (Claude Code, Cursor...): relays to the running daemon\'s /mcp; starts no daemon')
      .addHelpText('after', `
Configure a host with one line, e.g.:
  claude mcp add agentd -- agentd mcp
or in an mcpServers JSON file:
  { "mcpServers": { "agentd": { "command": "agentd", "args": ["mcp"] } } }
Tools without sandbox_id use one default sandbox per session, destroyed when the host disconnects (docs/mcp.md).`),
  ).action(guarded(io, async (flags: ClientFlags) => {
    if (flags.json === true) throw new UsageError('--json does not apply to agentd mcp: its stdout is the MCP protocol (JSON-RPC) already');
    const { runMcpBridge } = await import('./mcp-bridge.js');
    await runMcpBridge(flags, io);
  }));
}
