import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../util/units.js';

/** `--env K=V`, repeatable, into a record. */
export function collectEnv(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected K=V, got '${value}'`);
  const key = value.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new InvalidArgumentError(`'${key}' is not a valid environment variable name`);
  return { ...previous, [key]: value.slice(eq + 1) };
}

/** A positive duration (`30s`, `10m`, `1h`, `500ms`; a bare number is seconds) in milliseconds. */
export function parseTimeout(value: string): number {
  const parsed = parseDuration(value, 's');
  if (!parsed.ok) throw new InvalidArgumentError(parsed.message);
  if (parsed.value <= 0) throw new InvalidArgumentError(`expected a positive duration, got '${value}'`);
  return parsed.value;
}
