import { isAbsolute, normalize } from 'node:path';

/** Why a host path is unusable in the config, or undefined when it is fine. */
export function absolutePathProblem(path: string): string | undefined {
  if (path.includes('\0')) return 'must not contain a NUL byte';
  if (!isAbsolute(path)) return `must be an absolute path (got "${path}"); a relative path would depend on the daemon's working directory`;
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
  if (normalize(trimmed) !== trimmed) return `must be normalized (no "..", "." or "//" segments; got "${path}") so that what is checked is what is mounted`;
  return undefined;
}

/** `inner` equals `outer` or lies below it. Both absolute and normalized. */
export function isSameOrBelow(inner: string, outer: string): boolean {
  if (outer === '/') return true;
  const o = outer.replace(/\/+$/, '');
  return inner === o || inner.startsWith(`${o}/`);
}
