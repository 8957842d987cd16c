import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** The uid the daemon runs as (decides root vs per-user defaults). */
export function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

/** /var/lib/agentd for root, $XDG_DATA_HOME/agentd (absolute only, per the XDG spec) or ~/.local/share/agentd otherwise. */
export function defaultHome(env: NodeJS.ProcessEnv, uid: number): string {
  if (uid === 0) return '/var/lib/agentd';
  const xdg = env.XDG_DATA_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'agentd');
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir();
  return join(home, '.local', 'share', 'agentd');
}

/**
 * The file read when none is named: /etc/agentd/agentd.toml for root,
 * $XDG_CONFIG_HOME/agentd/agentd.toml or ~/.config/agentd/agentd.toml otherwise.
 * A missing default file is not an error (defaults apply); a missing named one is.
 */
export function defaultConfigPath(env: NodeJS.ProcessEnv, uid: number): string {
  if (uid === 0) return '/etc/agentd/agentd.toml';
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'agentd', 'agentd.toml');
  const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir();
  return join(home, '.config', 'agentd', 'agentd.toml');
}
