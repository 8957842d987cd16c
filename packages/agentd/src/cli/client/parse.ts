/** Parsers for command-line values; commander reports their errors as usage errors. */
import { InvalidArgumentError as UsageError } from 'commander';
import { parseDuration, parseSize as parseSizeText } from '../../util/units.js';

/** Collects a repeatable `K=V` option into a record. */
export function collectKeyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new UsageError('expected KEY=VALUE');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];
}

/** Seconds (fractions allowed) or a duration (`30s`, `10m`, `1h`, `500ms`) to milliseconds. */
export function parseSeconds(value: string): number {
  return parseDurationFlag('s')(value);
}

/** A duration flag to milliseconds; a bare number counts in `bareUnit`. */
export function parseDurationFlag(bareUnit: 's' | 'ms'): (value: string) => number {
  return (value) => {
    const parsed = parseDuration(value, bareUnit);
    if (!parsed.ok) throw new UsageError(parsed.message);
    if (parsed.value <= 0) throw new UsageError(`expected a positive duration, got '${value}'`);
    return parsed.value;
  };
}

/** A size flag (`512m`, `2g`, `64k`, bytes) to bytes. */
export function parseSizeFlag(value: string): number {
  const parsed = parseSizeText(value);
  if (!parsed.ok) throw new UsageError(parsed.message);
  return parsed.value;
}

export function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError('expected a non-negative integer');
  return n;
}

/** "512m", "2g", "1048576", "64Mi" to bytes (binary units). */
export const parseSize = parseSizeFlag;

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
