/**
 * The stdio <-> streamable HTTP relay behind `agentd mcp`. Messages from the host (stdin,
 * newline-delimited JSON-RPC) go to `<daemon>/mcp` as they come, answers come back on stdout;
 * stdout carries nothing else. The daemon's session (and its default sandbox) ends when stdin
 * closes or the process is interrupted (DELETE /mcp).
 */
import { readFileSync } from 'node:fs';
import { RequestSigner, type FetchLike } from '@agentd/sdk';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { AgentdError } from '../../core/errors.js';
import { clientOptions, type ClientFlags } from './connection.js';
import type { CliIo } from './io.js';

/** JSON-RPC error code of a message the daemon did not take (the MCP SDK's "connection closed" range). */
const RELAY_FAILED = -32000;

/** Hosts of this machine only: the local token never goes anywhere else (the SDK's rule, options.ts). */
function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The daemon's fetch with the CLI's credential on every request: an API key, a signature, or the local token read at each request. */
export function credentialedFetch(flags: ClientFlags, env: NodeJS.ProcessEnv): { fetch: FetchLike; where: string; baseUrl: string } {
  const o = clientOptions(flags, env);
  const base: FetchLike = o.fetch ?? ((url, init) => fetch(url, init));
  const signer = o.signing === undefined ? undefined : new RequestSigner(o.signing);
  const tokenFile = typeof o.localTokenFile === 'string' && isLoopbackUrl(o.baseUrl ?? '') ? o.localTokenFile : undefined;
  const socket = flags.socket ?? (o.fetch !== undefined ? 'the Unix socket' : undefined);
  const authed: FetchLike = async (url, init = {}) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    if (o.apiKey !== undefined) headers.authorization = `Bearer ${o.apiKey}`;
    else if (tokenFile !== undefined) {
      try {
        const token = readFileSync(tokenFile, 'utf8').trim();
        if (/^agdt_[A-Za-z0-9_-]{43}$/.test(token)) headers.authorization = `Bearer ${token}`;
      } catch {
        // no token file: the daemon answers 401 and the user is told
      }
    }
    if (signer !== undefined) {
      const body = typeof init.body === 'string' ? new TextEncoder().encode(init.body) : undefined;
      Object.assign(headers, await signer.headers(init.method ?? 'GET', String(url), body));
    }
    return base(url, { ...init, headers });
  };
  return { fetch: authed, where: socket === undefined ? (o.baseUrl ?? '') : `${o.baseUrl ?? ''} over ${socket}`, baseUrl: o.baseUrl ?? 'http://127.0.0.1:7070' };
}

/**
 * Checks that a daemon answers and takes the credential, before the host is answered: GET /mcp
 * passes the auth chain and answers 405 to an authenticated caller, creating nothing.
 */
async function preflight(doFetch: FetchLike, baseUrl: string, where: string): Promise<void> {
  let res: Response;
  try {
    res = await doFetch(`${baseUrl}/mcp`, { method: 'GET', headers: { accept: 'application/json, text/event-stream' } });
  } catch (err) {
    const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new AgentdError('UNAVAILABLE', `no agentd daemon answers at ${where} (${why}). Start one first: 'agentd serve' (as root for sandboxes as their own uids), `
      + "or point this command at a running daemon with --url/--socket or AGENTD_URL/AGENTD_SOCKET. 'agentd mcp' never starts a daemon itself.");
  }
  if (res.status === 405 || res.ok) return;
  let message = `HTTP ${res.status}`;
  try {
    const body = await res.json() as { error?: { code?: string; message?: string } };
    if (body.error?.code !== undefined) message = `${body.error.code}: ${body.error.message ?? ''}`;
  } catch {
    // not our envelope
  }
  if (res.status === 404) throw new AgentdError('UNAVAILABLE', `the daemon at ${where} has no /mcp endpoint (an older agentd?): ${message}`);
  throw new AgentdError(res.status === 401 ? 'UNAUTHENTICATED' : res.status === 403 ? 'PERMISSION_DENIED' : 'UNAVAILABLE',
    `the daemon at ${where} refused this client (${message}); give an API key with --api-key or AGENTD_API_KEY, or run as a user whose local token it accepts`);
}

export async function runMcpBridge(flags: ClientFlags, io: CliIo): Promise<void> {
  const { fetch: doFetch, where, baseUrl } = credentialedFetch(flags, io.env);
  await preflight(doFetch, baseUrl, where);
  const upstream = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { fetch: (url, init) => doFetch(String(url), init ?? {}), reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 } });
  const downstream = new StdioServerTransport(io.stdin, io.stdout);
  const log = (text: string): void => {
    io.stderr.write(`agentd mcp: ${text}\n`);
  };
  const initIds = new Set<string | number>();
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= (async () => {
    // Ends the daemon's session, and with it the session's default sandbox.
    if (upstream.sessionId !== undefined) await upstream.terminateSession().catch((err: unknown) => log(`could not end the session: ${(err as Error).message}`));
    await upstream.close().catch(() => undefined);
    await downstream.close().catch(() => undefined);
    done();
  })());

  downstream.onmessage = (msg: JSONRPCMessage) => {
    if (isJSONRPCRequest(msg) && msg.method === 'initialize') initIds.add(msg.id);
    upstream.send(msg).catch((err: unknown) => {
      const text = (err as Error).message;
      log(`the daemon did not take a message: ${text}`);
      if (isJSONRPCRequest(msg)) void downstream.send({ jsonrpc: '2.0', id: msg.id, error: { code: RELAY_FAILED, message: `agentd daemon at ${where}: ${text}` } });
    });
  };
  downstream.onerror = (err) => log(`bad input from the host: ${err.message}`);
  downstream.onclose = () => void close();
  upstream.onmessage = (msg: JSONRPCMessage) => {
    if (isJSONRPCResultResponse(msg) && initIds.delete(msg.id)) {
      const version = (msg.result as { protocolVersion?: unknown }).protocolVersion;
      if (typeof version === 'string') upstream.setProtocolVersion(version);
    }
    void downstream.send(msg);
  };
  upstream.onerror = (err) => log(err.message);
  io.stdin.once('end', () => void close());
  io.stdin.once('close', () => void close());
  const unsubscribe = io.onInterrupt(() => void close());
  await upstream.start();
  await downstream.start();
  try {
    await finished;
  } finally {
    unsubscribe();
  }
}
