/**
 * One MCP server per session, on the SDK's low-level `Server`: tools/list serves the tool
 * table's schemas, tools/call validates the arguments with the tool's zod schema (our
 * INVALID_ARGUMENT, not the SDK's message) and runs it with the principal of the very request
 * that carried the call. Whatever a tool throws becomes a tool error (`isError: true`); a
 * malformed message is the SDK's JSON-RPC error; neither reaches the daemon as an exception.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Principal } from '../../auth/types.js';
import { AgentdError } from '../../core/errors.js';
import { zodError } from '../../pipeline/zod-error.js';
import { toolError, toolResult } from './results.js';
import type { ToolContext, ToolSpec } from './tools.js';

export const SERVER_INSTRUCTIONS = [
  'agentd runs commands and file operations in isolated Linux sandboxes with resource limits.',
  'Every tool that takes sandbox_id uses this session\'s default sandbox when you omit it: it is created on first use and destroyed when the session ends, so a simple task never needs an id.',
  'Work in /workspace. Use sandbox_exec for commands, sandbox_file_read/write/edit for files, sandbox_snapshot and sandbox_restore to undo.',
  'For servers and long jobs use sandbox_exec_background, then sandbox_command_output to read their output; sandbox_expose_port makes a server reachable from the host.',
  'A tool error starts with an agentd code (INVALID_ARGUMENT, NOT_FOUND, TIMEOUT...) followed by what to do.',
].join(' ');

/** What a call needs from its session. */
export interface CallScope {
  /** The tool context for one call, or throws UNAUTHENTICATED when the request carried no principal. */
  context(principal: Principal | undefined, signal: AbortSignal): ToolContext;
}

/** tools/list entries, built once per table (the JSON Schemas do not change). */
export function toolList(tools: readonly ToolSpec[]): Tool[] {
  return tools.map((t) => ({
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: z.toJSONSchema(t.input, { io: 'input', unrepresentable: 'any' }) as Tool['inputSchema'],
    annotations: { title: t.title, ...t.annotations },
  }));
}

/** Runs one tool call: validation, the tool, the answer; never throws. */
export async function callTool(tools: ReadonlyMap<string, ToolSpec>, name: string, args: unknown, ctx: () => ToolContext): Promise<CallToolResult> {
  try {
    const spec = tools.get(name);
    if (spec === undefined) throw new AgentdError('NOT_FOUND', `no tool named '${name}' (tools/list shows them)`, { details: { tool: name } });
    const parsed = spec.input.safeParse(args ?? {});
    if (!parsed.success) throw zodError(parsed.error, 'arguments');
    return toolResult(await spec.run(ctx(), parsed.data));
  } catch (err) {
    return toolError(err);
  }
}

export function buildServer(opts: { version: string; tools: readonly ToolSpec[]; listed: Tool[]; scope: CallScope; stopping: AbortSignal }): Server {
  const server = new Server({ name: 'agentd', version: opts.version }, { capabilities: { tools: {} }, instructions: SERVER_INSTRUCTIONS });
  const byName = new Map(opts.tools.map((t) => [t.name, t]));
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: opts.listed }));
  server.setRequestHandler(CallToolRequestSchema, (req, extra) => {
    const principal = (extra.authInfo?.extra as { principal?: Principal } | undefined)?.principal;
    return callTool(byName, req.params.name, req.params.arguments, () => opts.scope.context(principal, AbortSignal.any([extra.signal, opts.stopping])));
  });
  return server;
}
