/**
 * A small client of podman's REST service (its libpod API, v4) over a Unix socket, with
 * Node's own http: JSON requests, and the attach stream (an HTTP upgrade to a raw byte
 * stream). No dependency: the few calls the backend makes do not need one.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { AgentdError } from '../../core/errors.js';

const API = '/v4.0.0/libpod';
/** An answer body larger than this is refused (the service is local, but a bug must not eat the daemon's memory). */
const MAX_BODY = 64 * 1024 * 1024;

export interface ApiResponse {
  status: number;
  body: Buffer;
}

export class PodmanApiError extends AgentdError {}

/** One keep-alive agent per socket: a create and its start reuse one connection. */
export class PodmanApi {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(readonly socketPath: string) {}

  /** A request with an optional JSON or raw body; rejects only when the service cannot be reached. */
  raw(method: string, path: string, body?: unknown, opts: { contentType?: string; timeoutMs?: number } = {}): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const isStream = body !== undefined && typeof (body as NodeJS.ReadableStream).pipe === 'function';
      const data = body === undefined || isStream ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = {};
      if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
      if (data !== undefined) headers['content-length'] = String(data.length);
      const req = http.request({ socketPath: this.socketPath, method, path: `${API}${path}`, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) {
            req.destroy(new Error(`podman's answer to ${method} ${path} is larger than ${MAX_BODY} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      if (opts.timeoutMs !== undefined) {
        req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`podman did not answer ${method} ${path} within ${opts.timeoutMs} ms`)));
      }
      req.on('error', (err) => reject(new AgentdError('BACKEND_UNAVAILABLE', `podman service (${this.socketPath}): ${err.message}`, { cause: err })));
      if (isStream) (body as NodeJS.ReadableStream).pipe(req);
      else req.end(data);
    });
  }

  /** A JSON request whose status must be in `ok`; anything else becomes an AgentdError with podman's message. */
  async call<T = unknown>(method: string, path: string, body?: unknown, opts: { ok?: number[]; code?: ConstructorParameters<typeof AgentdError>[0]; timeoutMs?: number; contentType?: string } = {}): Promise<T> {
    const res = await this.raw(method, path, body, opts);
    const ok = opts.ok ?? [200, 201, 204];
    if (!ok.includes(res.status)) throw apiError(method, path, res, opts.code ?? 'BACKEND_UNAVAILABLE');
    const text = res.body.toString('utf8').trim();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /**
   * Attaches to a container's stdin, stdout and stderr: resolves with the raw socket once
   * podman answered 101. Without a TTY, what comes back is multiplexed (see demux.ts); what
   * is written goes to the container's stdin unchanged; ending the socket's write side
   * closes the container's stdin.
   */
  attach(id: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath,
        method: 'POST',
        path: `${API}/containers/${encodeURIComponent(id)}/attach?stream=true&stdin=true&stdout=true&stderr=true`,
        headers: { Connection: 'Upgrade', Upgrade: 'tcp' },
      });
      req.on('upgrade', (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        socket.setNoDelay(true);
        resolve(socket);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(apiError('POST', `/containers/${id}/attach`, { status: res.statusCode ?? 0, body: Buffer.concat(chunks) }, 'BACKEND_UNAVAILABLE')));
      });
      req.on('error', (err) => reject(new AgentdError('BACKEND_UNAVAILABLE', `podman attach (${this.socketPath}): ${err.message}`, { cause: err })));
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** podman's error body is {"cause", "message", "response"}. */
export function apiError(method: string, path: string, res: ApiResponse, code: ConstructorParameters<typeof AgentdError>[0]): AgentdError {
  let message = res.body.toString('utf8').trim();
  try {
    const parsed = JSON.parse(message) as { message?: string };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: keep the text
  }
  return new AgentdError(code, `podman ${method} ${path.split('?')[0] ?? path}: ${res.status} ${message.slice(0, 2000)}`, { details: { status: res.status } });
}
