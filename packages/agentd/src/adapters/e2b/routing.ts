import type { IncomingMessage } from 'node:http';
import { ENVD_PORT, ENVD_PREFIX, PORT_PREFIX } from './constants.js';

/** Where an in-sandbox request goes: the sandbox and the port inside it. */
export interface SandboxTarget {
  sandboxId: string;
  port: number;
}

const SANDBOX_ID = /^[A-Za-z0-9_-]{1,64}$/;

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The in-sandbox target of a request, or undefined when it is not one: the `E2b-Sandbox-Id`
 * header (port from `E2b-Sandbox-Port`, default envd's), else a Host `<port>-<id>.<domain>`
 * under the configured domain. A malformed header is still an in-sandbox request (with an
 * invalid target: port 0), so it is refused by the E2B routes instead of reaching agentd's own.
 */
export function sandboxTarget(req: IncomingMessage, domain: string): SandboxTarget | undefined {
  const id = header(req, 'e2b-sandbox-id');
  if (id !== undefined) {
    const p = header(req, 'e2b-sandbox-port');
    const port = p === undefined ? ENVD_PORT : /^\d{1,5}$/.test(p) ? Number(p) : 0;
    return { sandboxId: SANDBOX_ID.test(id) ? id : '-', port: port >= 1 && port <= 65535 ? port : 0 };
  }
  const host = (header(req, 'host') ?? '').toLowerCase().replace(/:\d+$/, '');
  const suffix = `.${domain.toLowerCase()}`;
  if (domain === '' || !host.endsWith(suffix)) return undefined;
  const m = /^(\d{1,5})-([a-z0-9_-]{1,64})$/.exec(host.slice(0, -suffix.length));
  if (!m) return undefined;
  const port = Number(m[1]);
  return { sandboxId: m[2] ?? '-', port: port >= 1 && port <= 65535 ? port : 0 };
}

/** The path a request of `target` is routed by (fastify's rewriteUrl): envd's routes or the port relay. */
export function rewrittenPath(target: SandboxTarget, url: string): string {
  const rest = url.startsWith('/') ? url : `/${url}`;
  if (target.port === ENVD_PORT) return `${ENVD_PREFIX}/${target.sandboxId}${rest}`;
  return `${PORT_PREFIX}/${target.sandboxId}/${target.port}${rest}`;
}

/** fastify's `rewriteUrl`: in-sandbox requests to the E2B routes, every other request untouched. */
export function e2bRewriteUrl(domain: string | undefined): (req: IncomingMessage) => string {
  return (req) => {
    const url = req.url ?? '/';
    if (domain === undefined) return url;
    const target = sandboxTarget(req, domain);
    return target === undefined ? url : rewrittenPath(target, url);
  };
}
