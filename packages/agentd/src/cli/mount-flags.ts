/**
 * `-v HOST[:SANDBOX][:ro|rw]` and `--mount-cwd`, shared by `agentd run` and
 * `agentd sandbox create`. Both become the API's `bind_mounts` ({source, target, readonly}):
 * one vocabulary. HOST may be relative (to the current directory); it is made absolute here,
 * and the daemon (or `run`'s backend) checks it, resolving symlinks, when the sandbox starts.
 */
import { InvalidArgumentError } from 'commander';
import { posix, resolve } from 'node:path';

export interface BindMountFlag {
  source: string;
  target: string;
  readonly: boolean;
}

/** Where `--mount-cwd` mounts the current directory (and the command's working directory). */
export const MOUNT_CWD_TARGET = '/workspace';

function absolute(path: string, what: string): string {
  if (path === '' || path.includes('\0')) throw new InvalidArgumentError(`${what}: empty path`);
  const abs = resolve(path);
  // resolve() normalises and drops a trailing slash (except for '/').
  return abs;
}

/** One `-v` value. Repeatable: commander passes the list so far as `previous`. */
export function collectVolume(value: string, previous: BindMountFlag[] = []): BindMountFlag[] {
  const parts = value.split(':');
  let readonly = false;
  const last = parts.at(-1);
  if (parts.length > 1 && (last === 'ro' || last === 'rw')) {
    readonly = last === 'ro';
    parts.pop();
  }
  if (parts.length > 2 || parts[0] === undefined || parts[0] === '') {
    throw new InvalidArgumentError(`expected HOST[:SANDBOX][:ro|rw], got '${value}'`);
  }
  const source = absolute(parts[0], 'HOST');
  const target = parts[1] ?? source;
  if (!posix.isAbsolute(target)) throw new InvalidArgumentError(`SANDBOX must be an absolute path inside the sandbox, got '${target}'`);
  return [...previous, { source, target: posix.normalize(target).replace(/(.)\/$/, '$1'), readonly }];
}

/** The bind mounts of the flags: `-v` ones, then the current directory at /workspace for `--mount-cwd`. */
export function bindMountsOf(flags: { volume?: BindMountFlag[]; mountCwd?: boolean }, cwd: string = process.cwd()): BindMountFlag[] {
  return [...(flags.volume ?? []), ...(flags.mountCwd === true ? [{ source: cwd, target: MOUNT_CWD_TARGET, readonly: false }] : [])];
}

export const VOLUME_HELP = 'mount a host path: HOST[:SANDBOX][:ro] (SANDBOX defaults to the same path; repeatable); the API\'s bind_mounts';
export const MOUNT_CWD_HELP = `mount the current directory read-write at ${MOUNT_CWD_TARGET} and run there; files written keep their owner`;
