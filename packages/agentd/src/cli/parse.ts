import { InvalidArgumentError } from 'commander';

/** `--env K=V`, repeatable, into a record. */
export function collectEnv(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected K=V, got '${value}'`);
  const key = value.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new InvalidArgumentError(`'${key}' is not a valid environment variable name`);
  return { ...previous, [key]: value.slice(eq + 1) };
}

/** A positive number of seconds (fractions allowed). */
export function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got '${value}'`);
  return n;
}
