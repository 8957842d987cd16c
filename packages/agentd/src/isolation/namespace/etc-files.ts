import { SANDBOX_GID, SANDBOX_UID, SANDBOX_USER } from './bwrap-args.js';
import { SANDBOX_PATHS } from './mounts.js';

/**
 * The sandbox's /etc/passwd and /etc/group: only root, the sandbox user `agent` and nobody,
 * so `id -un` says agent and no host account names leak in.
 */
export function passwdText(): string {
  return [
    'root:x:0:0:root:/root:/bin/sh',
    `${SANDBOX_USER}:x:${SANDBOX_UID}:${SANDBOX_GID}:agentd sandbox user:${SANDBOX_PATHS.home}:/bin/sh`,
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
    '',
  ].join('\n');
}

export function groupText(): string {
  return ['root:x:0:', `${SANDBOX_USER}:x:${SANDBOX_GID}:`, 'nogroup:x:65534:', ''].join('\n');
}
