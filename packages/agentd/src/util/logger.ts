/** The logging surface every component takes (pino's shape, so a pino logger fits as is). */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LEVELS)[number] | 'silent';

/** A plain-text logger for the CLI: `warning: message (key=value ...)` lines on stderr. */
export function createTextLogger(level: LogLevel = 'warn', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = level === 'silent' ? LEVELS.length : LEVELS.indexOf(level);
  const emit = (lvl: (typeof LEVELS)[number], obj: object | string, msg?: string): void => {
    if (LEVELS.indexOf(lvl) < min) return;
    const text = typeof obj === 'string' ? obj : (msg ?? '');
    const fields = typeof obj === 'string' ? '' : Object.entries(obj).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    const label = lvl === 'warn' ? 'warning' : lvl;
    write(`agentd ${label}: ${text}${fields ? ` (${fields})` : ''}\n`);
  };
  return {
    debug: (o, m) => emit('debug', o, m),
    info: (o, m) => emit('info', o, m),
    warn: (o, m) => emit('warn', o, m),
    error: (o, m) => emit('error', o, m),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
