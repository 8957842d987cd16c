/** Parsers for command-line values; commander reports their errors as usage errors. */
import { InvalidArgumentError as UsageError } from 'commander';

/** Collects a repeatable `K=V` option into a record. */
export function collectKeyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new UsageError('expected KEY=VALUE');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];
}

/** Seconds (fractions allowed) to milliseconds. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError('expected a positive number of seconds');
  return Math.round(seconds * 1000);
}

export function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError('expected a non-negative integer');
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "512m", "2g", "1048576", "64Mi" to bytes (binary units). */
export function parseSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(value.trim());
  const unit = SIZE_UNITS[(match?.[2] ?? '').toLowerCase()];
  if (match === null || unit === undefined) throw new UsageError('expected a size like 512m or 2g');
  return Math.round(Number(match[1]) * unit);
}

export interface RemotePath {
  sandboxId: string;
  path: string;
}

/**
 * `ID:/path` names a path in a sandbox; anything else is local. A local path that contains a
 * colon can be written with a slash before it (`./a:b`).
 */
export function parseRemote(spec: string): RemotePath | undefined {
  const match = /^([A-Za-z0-9][A-Za-z0-9_.-]*):(.*)$/.exec(spec);
  if (match === null) return undefined;
  const [, sandboxId = '', path = ''] = match;
  return { sandboxId, path: path === '' ? '.' : path };
}
