/**
 * The envd Connect-RPC services (`/process.Process/*`, `/filesystem.Filesystem/*`) for the
 * stock `e2b` SDK, served by @connectrpc/connect's protocol handlers (Connect protocol, JSON
 * as the SDK sends it, binary too; unary, server streaming with its end-of-stream message,
 * client streaming). e2b-a's routing authenticates the request and resolves the caller
 * (adapters/e2b/routing.ts); `handle` runs the call with that caller in the context values,
 * and every service method goes through agentd's pipeline or gate (process-service.ts,
 * filesystem-service.ts).
 */
import { createConnectRouter, createContextValues, type ConnectRouter } from '@connectrpc/connect';
import type { UniversalHandler, UniversalServerRequest } from '@connectrpc/connect/protocol';
import { universalResponseToNodeResponse } from '@connectrpc/connect-node';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { HttpServices } from '../../http/services.js';
import { CALLER } from './caller.js';
import { filesystemService } from './filesystem-service.js';
import { Filesystem } from './gen/filesystem/filesystem_pb.js';
import { Process } from './gen/process/process_pb.js';
import { processService } from './process-service.js';
import type { EnvdCaller, EnvdRpc, EnvdRpcCall } from './types.js';

/** Largest message read from a client (a SendInput's data, a StreamInput message). */
const READ_MAX_BYTES = 16 * 1024 * 1024;

function headersOf(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(':')) continue;
    if (Array.isArray(v)) for (const one of v) out.append(k, one);
    else out.append(k, v);
  }
  return out;
}

async function* once(body: Buffer): AsyncIterable<Uint8Array> {
  if (body.length > 0) yield body;
}

export interface EnvdRpcHandlers {
  /** Runs one call: `path` is "/process.Process/Start"; answers on `res`. */
  serve(path: string, req: UniversalServerRequest, res: ServerResponse): Promise<boolean>;
  close(): Promise<void>;
}

/** The router behind `createEnvdRpc`; also used directly by tests that mount it without e2b-a's routing. */
export function createEnvdHandlers(svc: HttpServices): EnvdRpcHandlers {
  const proc = processService(svc);
  const fs = filesystemService(svc);
  const router: ConnectRouter = createConnectRouter({ readMaxBytes: READ_MAX_BYTES, jsonOptions: { ignoreUnknownFields: true } });
  router.service(Process, proc.impl);
  router.service(Filesystem, fs.impl);
  const byPath = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));
  return {
    async serve(path, req, res) {
      const h = byPath.get(path);
      if (h === undefined) return false;
      const ures = await h(req);
      await universalResponseToNodeResponse(ures, res);
      return true;
    },
    close: () => fs.close(),
  };
}

/** A universal request for the Connect handler from what e2b-a's routing hands over. */
export function universalRequest(opts: { httpVersion: string; url: string; headers: IncomingHttpHeaders; body: Buffer; signal: AbortSignal; caller: EnvdCaller }): UniversalServerRequest {
  return {
    httpVersion: opts.httpVersion,
    // Connect's unary handler parses it as a URL (GET query parameters): absolute.
    url: new URL(opts.url, 'http://envd.local').href,
    method: 'POST',
    header: headersOf(opts.headers),
    body: once(opts.body),
    signal: opts.signal,
    contextValues: createContextValues().set(CALLER, opts.caller),
  };
}

export function createEnvdRpc(svc: HttpServices): EnvdRpc {
  const handlers = createEnvdHandlers(svc);
  return {
    async handle(call: EnvdRpcCall): Promise<void> {
      const path = `/${call.service}/${call.method}`;
      const req = universalRequest({
        httpVersion: call.req.raw.httpVersion, url: path, headers: call.req.headers, body: call.body, signal: call.signal, caller: call.caller,
      });
      call.reply.hijack();
      const res = call.reply.raw;
      const fail = (status: number, code: string, message: string): void => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code, message }));
      };
      try {
        // Not a method of these services: Connect's "unimplemented" (HTTP 404), never a hang.
        if (!(await handlers.serve(path, req, res))) fail(404, 'unimplemented', `${path} is not implemented`);
      } catch (err) {
        // The handlers answer their own errors; this is a bug or a broken connection: an answer anyway, never a hang.
        svc.logger.error({ err: (err as Error).message, path }, 'envd RPC failed');
        fail(500, 'internal', 'internal error');
      }
    },
    close: () => handlers.close(),
  };
}
