/**
 * Which user a command runs as (`user` of shell.exec.v1; docs/images.md). A sandbox with an
 * image has two: `root` (uid 0 inside: the sandbox's root-inside host uid, with only the
 * capabilities image-root.ts lists, in the sandbox's own user namespace) and `agent` (uid
 * 1000, the default). Its init runs as root inside, so an `agent` command is started through
 * the init's launcher, which drops to uid/gid 1000 with no groups before the program runs
 * (and with it every capability). A sandbox without an image has only `agent`.
 */
import { AgentdError } from '../core/errors.js';
import { AGENT_UID, ROOT_UID } from '../isolation/namespace/image-root.js';
import { SANDBOX_PATHS } from '../isolation/namespace/mounts.js';
import type { SandboxSpec } from '../isolation/types.js';

export type ExecUser = 'root' | 'agent' | number;

export function uidOf(user: ExecUser | undefined): number {
  if (user === undefined || user === 'agent') return AGENT_UID;
  if (user === 'root') return ROOT_UID;
  return user;
}

/** The argv and environment that run `argv` as `user` in sandbox `spec`; INVALID_ARGUMENT / POLICY_DENIED for a user it does not have. */
export function runAsUser(spec: SandboxSpec, user: ExecUser | undefined, argv: string[], env: Record<string, string>): { argv: string[]; env: Record<string, string> } {
  const uid = uidOf(user);
  if (uid !== ROOT_UID && uid !== AGENT_UID) {
    throw new AgentdError('INVALID_ARGUMENT', `user ${String(user)}: a sandbox has only root (0) and agent (1000)`, { details: { user } });
  }
  if (spec.image === undefined) {
    if (uid === ROOT_UID) {
      throw new AgentdError('POLICY_DENIED', 'user root: only a sandbox with an image runs commands as root inside (create it with `image`); this one shares the host\'s read-only system folders', {
        details: { rule: 'root_needs_image', user },
      });
    }
    return { argv, env };
  }
  if (uid === ROOT_UID) return { argv, env: { ...env, USER: 'root', LOGNAME: 'root', HOME: '/root' } };
  return { argv: [SANDBOX_PATHS.init, '--launch', '--uid', String(AGENT_UID), '--gid', String(AGENT_UID), '--', ...argv], env };
}

/** `--user` of the CLI: root, agent, or a number. */
export function parseExecUser(text: string): ExecUser {
  if (text === 'root' || text === 'agent') return text;
  if (/^\d{1,5}$/.test(text)) return Number(text);
  throw new AgentdError('INVALID_ARGUMENT', `--user ${text}: expected root, agent or a uid (0 or 1000)`, { details: { user: text } });
}
