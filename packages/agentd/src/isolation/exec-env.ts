/**
 * The one environment of a command in a sandbox, on every path (`agentd run`, CLI and REST
 * exec, intents, the SDK): the backend's defaults, then the sandbox's `env`, then the
 * caller's. Nothing of the daemon's own environment is inherited. TERM is set only when a
 * TTY is asked for (an exec with `pty`; InitChannel also sets it from `pty.term`).
 */

/** What a backend knows about the account a sandbox's commands run as. */
export interface SandboxAccount {
  /** The search path (PATH). */
  path: string;
  /** HOME, as the command sees it. */
  home: string;
  /** TMPDIR, as the command sees it. */
  tmp: string;
  /** USER and LOGNAME. */
  user: string;
  /** SHELL (default /bin/sh). */
  shell?: string;
}

export const DEFAULT_LANG = 'C.UTF-8';

/** The variables every command gets from agentd itself (documented in docs/api.md, "Exec environment"). */
export function defaultEnv(account: SandboxAccount): Record<string, string> {
  return {
    PATH: account.path,
    HOME: account.home,
    USER: account.user,
    LOGNAME: account.user,
    SHELL: account.shell ?? '/bin/sh',
    TMPDIR: account.tmp,
    LANG: DEFAULT_LANG,
  };
}

/** A sandbox's base environment: the defaults under the sandbox's own `env` (which wins). */
export function sandboxBaseEnv(account: SandboxAccount, specEnv: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return { ...defaultEnv(account), ...specEnv };
}

/** One command's environment: the sandbox's base, the caller's `env` on top; TERM only for a TTY. */
export function commandEnv(baseEnv: Readonly<Record<string, string>>, callerEnv?: Readonly<Record<string, string>>, opts: { tty?: boolean } = {}): Record<string, string> {
  return { ...baseEnv, ...(opts.tty === true && baseEnv.TERM === undefined ? { TERM: 'xterm-256color' } : {}), ...callerEnv };
}
