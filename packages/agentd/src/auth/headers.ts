import type { AuthRequest } from './types.js';

/** One header value (the first when repeated), or undefined. Names are lowercase. */
export function header(req: AuthRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The token of `Authorization: Bearer <token>`, or undefined when there is none. */
export function bearerToken(req: AuthRequest): string | undefined {
  const auth = header(req, 'authorization');
  if (auth === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
  return match?.[1];
}
