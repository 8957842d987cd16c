/**
 * Host-side work on an image tree that came from outside (a tarball, an OCI layer) runs in a
 * jail: bubblewrap as root, with only the staging tree writable (at /target), the host's
 * system folders read-only and nothing else. A symlink in the tree (`etc -> /`, `../../..`)
 * then resolves inside the jail's own empty root, never to a host path: extraction,
 * whiteouts and the finishing touches cannot write, delete or read a host file.
 */
import { spawn } from 'node:child_process';
import { AgentdError } from '../core/errors.js';
import { measureSystemEntries } from '../isolation/namespace/host-layout.js';

export interface JailRun {
  /** The staging root file system (bound read-write at /target). */
  target: string;
  /** Host files bound read-only at /input/<i> (tarballs, layer blobs). */
  inputs?: string[];
  /** A POSIX sh script run with `sh -c`, cwd /target; `args` are $1... */
  script: string;
  args?: string[];
  signal?: AbortSignal;
  /** Each stderr line as it comes (progress). */
  onLine?: (line: string) => void;
}

export async function runInJail(run: JailRun): Promise<void> {
  const args = ['--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--new-session', '--tmpfs', '/'];
  for (const e of await measureSystemEntries()) {
    if (e.kind === 'dir') args.push('--ro-bind', e.path, e.path);
    else args.push('--symlink', e.target, e.path);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--bind', run.target, '/target');
  (run.inputs ?? []).forEach((f, i) => args.push('--ro-bind', f, `/input/${i}`));
  args.push('--chdir', '/target', '--setenv', 'PATH', '/usr/sbin:/usr/bin:/sbin:/bin', '--setenv', 'LC_ALL', 'C', '--', '/bin/sh', '-c', run.script, 'jail', ...(run.args ?? []));
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bwrap', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, ...(run.signal ? { signal: run.signal } : {}) });
    let tail = '';
    let partial = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      tail = (tail + s).slice(-4000);
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) run.onLine?.(l);
    });
    child.on('error', (err) => reject(run.signal?.aborted ? new AgentdError('CANCELLED', 'cancelled', { cause: err }) : new AgentdError('INTERNAL', `bwrap: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) return resolve();
      const last = tail.trim().split('\n').slice(-5).join('; ');
      reject(new AgentdError(code === 3 ? 'INVALID_ARGUMENT' : 'INTERNAL', `image tree: ${last || `exit ${code ?? 'signal'}`}`, { details: { exit: code } }));
    });
  });
}

/**
 * What every image gets before it is hashed: the mount points a sandbox needs (/proc, /dev,
 * /tmp, /workspace, /home/agent, /.agentd/init), the unprivileged user `agent` (uid and gid
 * 1000, unless the image already has a uid 1000), and apt told to stay root for downloads
 * (a sandbox maps only uids 0 and 1000; apt's `_apt` user does not exist inside).
 */
export const FINISH_SCRIPT = `
set -e
for d in proc dev tmp workspace home .agentd etc; do
  if [ -L "$d" ]; then echo "refusing the image: /$d is a symbolic link" >&2; exit 3; fi
done
mkdir -p proc dev tmp workspace home/agent .agentd etc
chmod 1777 tmp
chmod 755 workspace home/agent .agentd
chown 1000:1000 workspace home/agent
[ -e .agentd/init ] || : > .agentd/init
touch etc/passwd etc/group
if ! awk -F: '$3 == 1000 { found = 1 } END { exit !found }' etc/passwd; then
  echo 'agent:x:1000:1000:agentd sandbox user:/home/agent:/bin/sh' >> etc/passwd
fi
if ! awk -F: '$3 == 1000 { found = 1 } END { exit !found }' etc/group; then
  echo 'agent:x:1000:' >> etc/group
fi
if [ -d etc/apt/apt.conf.d ] && [ ! -L etc/apt/apt.conf.d ]; then
  echo 'APT::Sandbox::User "root";' > etc/apt/apt.conf.d/99agentd-sandbox
fi
`;
