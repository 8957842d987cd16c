/**
 * One exit-status scheme for `agentd run` and `agentd exec` (as docker and timeout(1) do):
 *
 *   the command's own code   it ran and exited
 *   124                      killed by a timeout (--timeout, or the daemon's cap)
 *   125                      agentd itself failed: usage error, daemon unreachable, no such sandbox, bad request
 *   126                      the command was found but cannot be executed (EACCES, ENOEXEC...)
 *   127                      the command was not found
 *   128+N                    the command was killed by signal N (137: SIGKILL, e.g. out of memory)
 */
import { constants } from 'node:os';

export const EXIT_TIMEOUT = 124;
export const EXIT_AGENTD_FAILED = 125;
export const EXIT_CANNOT_EXECUTE = 126;
export const EXIT_NOT_FOUND = 127;

/** The table, for `--help` and the docs. */
export const EXIT_CODES_HELP = `
Exit status:
  the command's own    the command ran and exited
  124                  timed out (--timeout, or the daemon's cap)
  125                  agentd failed (usage error, daemon unreachable, no such sandbox, bad request)
  126                  the command cannot be executed
  127                  the command was not found
  128+N                the command was killed by signal N (137: SIGKILL, e.g. out of memory)
`;

export interface CommandEnd {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
}

export function signalExit(signal: string): number {
  return 128 + ((constants.signals as Record<string, number | undefined>)[signal] ?? 0);
}

/** The exit status of a command that ran. */
export function exitStatusOf(end: CommandEnd): number {
  if (end.timedOut) return EXIT_TIMEOUT;
  if (end.exitCode !== null) return end.exitCode;
  if (end.signal !== null) return signalExit(end.signal);
  return EXIT_AGENTD_FAILED;
}

/**
 * The exit status of an error: 127 or 126 when the command could not be started (EXEC_FAILED
 * with ENOENT, or another errno), 125 for anything else (agentd's own failure).
 */
export function exitStatusOfError(err: unknown): number {
  if (typeof err !== 'object' || err === null) return EXIT_AGENTD_FAILED;
  const { code, details } = err as { code?: unknown; details?: unknown };
  if (code !== 'EXEC_FAILED') return EXIT_AGENTD_FAILED;
  const errno = typeof details === 'object' && details !== null ? (details as { errno?: unknown }).errno : undefined;
  if (errno === 'ENOENT' || errno === 'ENOTDIR') return EXIT_NOT_FOUND;
  return EXIT_CANNOT_EXECUTE;
}
