/** Human tables and JSON output for the client commands. */
import type { CliIo } from './io.js';

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns separated by two spaces; the header row first. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function printTable(io: CliIo, header: readonly string[], rows: readonly (readonly string[])[]): void {
  io.stdout.write(formatTable(header, rows));
}

/** Key/value lines for one object, keys aligned. */
export function printFields(io: CliIo, fields: readonly (readonly [string, string])[]): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  io.stdout.write(fields.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${v}`).join('\n') + '\n');
}

/** "3s", "5m", "2h", "4d" ago (or ahead) relative to now. */
export function formatAge(ms: number, now: number = Date.now()): string {
  const delta = Math.abs(now - ms) / 1000;
  const text =
    delta < 60 ? `${Math.floor(delta)}s` : delta < 3600 ? `${Math.floor(delta / 60)}m` : delta < 86400 ? `${Math.floor(delta / 3600)}h` : `${Math.floor(delta / 86400)}d`;
  return now >= ms ? `${text} ago` : `in ${text}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? '-' : parts.join(',');
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}
