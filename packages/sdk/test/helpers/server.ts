import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A request handler; what it returns (a response, say) is ignored. */
export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer, index: number) => unknown;

export interface TestServer {
  /** http://127.0.0.1:PORT (TCP) or the socket path (Unix). */
  url: string;
  socketPath: string | undefined;
  requests: Recorded[];
  close(): Promise<void>;
}

/** A real node:http server on port 0 (or a temp Unix socket) that records every request. */
export async function startServer(handler: Handler, options: { unix?: boolean } = {}): Promise<TestServer> {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const index = requests.length;
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      Promise.resolve(handler(req, res, body, index)).catch((err: unknown) => {
        res.destroy(err as Error);
      });
    });
  });
  let dir: string | undefined;
  let socketPath: string | undefined;
  if (options.unix === true) {
    dir = mkdtempSync(join(tmpdir(), 'agentd-sdk-test-'));
    socketPath = join(dir, 'api.sock');
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  } else {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }
  const address = server.address();
  const url = typeof address === 'object' && address !== null ? `http://127.0.0.1:${address.port}` : String(socketPath);
  return {
    url,
    socketPath,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: string, message: string, extra: Record<string, unknown> = {}): void {
  sendJson(res, status, { error: { code, message, details: {}, retryable: false, ...extra } });
}
