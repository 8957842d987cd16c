/**
 * The command lines of an OCI runtime (runc, crun, runsc): each has a state folder of its own
 * per agentd home (`<home>/oci/<runtime>`, its `--root`), so that a daemon can list and remove
 * what a crashed daemon of the same home left, and never touches other users of the runtime.
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, lstat, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { nativePaths } from '../../native-paths.js';

export type RuntimeKind = 'runc' | 'crun' | 'runsc';

export interface OciRuntime {
  kind: RuntimeKind;
  /** The runtime binary. */
  path: string;
  /** Its state folder (`--root`). */
  root: string;
  /** Global flags after `--root` (runsc: platform and network). */
  flags: string[];
  /** A prefix the runtime runs under (crun on a hybrid cgroup host, see crunWorkaround). */
  wrap: string[];
}

/** The PATH the runtimes are searched in and run with (runc lives in /usr/sbin on Debian). */
export const RUNTIME_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `<home>/oci/<runtime>` for a sandbox root `<home>/sandboxes/<id>`. */
export function runtimeRoot(sandboxRoot: string, kind: RuntimeKind): string {
  return join(dirname(dirname(sandboxRoot)), 'oci', kind);
}

/** `<home>/oci/<runtime>` for a home. */
export function runtimeRootOfHome(home: string, kind: RuntimeKind): string {
  return join(home, 'oci', kind);
}

/**
 * crun 1.8 refuses a hybrid cgroup host ("cgroups in hybrid mode not supported"): v1
 * controllers plus a cgroup2 mount at /sys/fs/cgroup/unified holding a controller. It runs in a
 * private mount namespace where that mount is gone; sandboxes still get every v1 controller
 * (agentd's cgroup driver makes their groups). The prefix, when this host needs it: the native
 * agentd-nounified (one process: unshare, private propagation, umount, exec), else the same
 * steps from util-linux's unshare and a shell (three processes, several ms more per call).
 */
export async function crunWorkaround(helper = nativePaths().nounified): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const lines = text.split('\n');
  const hasUnified = lines.some((l) => l.split(' ')[4] === '/sys/fs/cgroup/unified' && l.includes(' - cgroup2 '));
  const hasV1 = lines.some((l) => / - cgroup cgroup /.test(l));
  if (!hasUnified || !hasV1) return [];
  if (await access(helper, fsConstants.X_OK).then(() => true, () => false)) return [helper];
  return ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$0" "$@"'];
}

/** argv of `run` in the foreground (the runtime stays the container's parent; the init's stdio is ours). */
export function runArgv(rt: OciRuntime, bundle: string, id: string): string[] {
  const extra = rt.kind === 'runsc' ? [] : ['--no-new-keyring'];
  return [...rt.wrap, rt.path, '--root', rt.root, ...rt.flags, 'run', '--bundle', bundle, ...extra, id];
}

/** Runs one runtime command to its end; its stderr's last line is the error's message. */
export function runtimeCommand(rt: OciRuntime, args: string[], timeoutMs = 15_000): Promise<string> {
  const [file, ...pre] = [...rt.wrap, rt.path, '--root', rt.root, ...rt.flags, ...args];
  return new Promise((resolve, reject) => {
    execFile(file as string, pre, { env: { PATH: RUNTIME_PATH }, timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const last = stderr.trim().split('\n').pop() ?? '';
      reject(new AgentdError('INTERNAL', `${rt.kind} ${args[0] ?? ''}: ${last || err.message}`, { details: { runtime: rt.kind, stderrTail: stderr.slice(-2048) }, cause: err }));
    });
  });
}

/** Ids of the containers in the runtime's state folder (none when it does not exist yet). */
export async function listContainers(rt: OciRuntime): Promise<string[]> {
  if ((await lstat(rt.root).catch(() => undefined)) === undefined) return [];
  const out = await runtimeCommand(rt, ['list', rt.kind === 'runsc' ? '-quiet' : '-q']);
  return out.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/**
 * Whether the runtime's state folder holds a record of container `id` (runc and crun: a
 * folder named `id`; runsc: files named `id_...` or `id.`...): a runtime process is spawned
 * to delete one only when there is.
 */
export async function hasRecord(rt: OciRuntime, id: string): Promise<boolean> {
  const names = await readdir(rt.root).catch(() => [] as string[]);
  return names.some((n) => n === id || n.startsWith(`${id}.`) || n.startsWith(`${id}_`));
}

/** Kills and removes a container; one that does not exist is fine. */
export async function deleteContainer(rt: OciRuntime, id: string): Promise<void> {
  try {
    await runtimeCommand(rt, ['delete', '--force', id]);
  } catch (err) {
    const msg = (err as Error).message;
    if (/does not exist|not found|no such file|container .* not/i.test(msg)) return;
    throw err;
  }
}
