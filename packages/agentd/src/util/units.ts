/**
 * Durations and sizes as a human types them, for the CLI's flags and the config file alike.
 * On the wire they are always milliseconds and bytes.
 *
 * Durations: `500ms`, `30s`, `10m`, `1h`, `2d`, fractions allowed (`1.5s`), or a plain number
 * in the caller's default unit (seconds for CLI flags, milliseconds for `*_ms` config keys).
 * Sizes: plain bytes, or `64k`, `512m`, `2g`, `1t` (binary: k = 1024), with an optional `i`/`b`
 * (`512Mi`, `512MB`, `512MiB` all mean 512 x 1024^2).
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export type UnitResult = { ok: true; value: number } | { ok: false; message: string };

/** A duration in milliseconds; a bare number counts in `bareUnit` ('s' or 'ms'). */
export function parseDuration(text: string, bareUnit: 's' | 'ms' = 'ms'): UnitResult {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?$/i.exec(text.trim());
  if (m === null) return { ok: false, message: `expected a duration like 500ms, 30s, 10m or 1h, got '${text}'` };
  const unit = DURATION_UNITS[(m[2] ?? bareUnit).toLowerCase()] ?? 1;
  const value = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(value)) return { ok: false, message: `duration '${text}' is too large` };
  return { ok: true, value };
}

/** A size in bytes. */
export function parseSize(text: string): UnitResult {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b?)?|(b))?$/i.exec(text.trim());
  if (m === null) return { ok: false, message: `expected a size like 64k, 512m, 2g or a number of bytes, got '${text}'` };
  const unit = SIZE_UNITS[(m[2] ?? m[3] ?? '').toLowerCase()] ?? 1;
  const value = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(value)) return { ok: false, message: `size '${text}' is too large` };
  return { ok: true, value };
}

/** "1h", "10m", "30s", "1.5s", "250ms": the shortest exact form of `ms` for messages. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}
