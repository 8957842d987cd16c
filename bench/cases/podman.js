/**
 * The podman backend (issue 13): a daemon whose default backend is podman (its own podman
 * service and store under the daemon's home), for
 *   podman_create        POST /v1/sandboxes to READY (the SDK's create), destroy not timed
 *   podman_exec_true     `true` through the API in a live podman sandbox
 *   podman_oneshot_true  `podman run --rm --rootfs` of `true` on the same root (the backend's
 *                        host-root skeleton, the same read-only system binds, user namespace
 *                        block, seccomp profile, network none), same store and configuration
 *   podman_idle_N        N idle sandboxes: PSS of each one's conmon + container processes
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pssKib } from '../lib/procmem.js';
import { importAgentd } from '../lib/paths.js';

const [{ podmanPaths, podmanEnv }, { containerName }] = await Promise.all([
  importAgentd('isolation/podman/service.js'),
  importAgentd('isolation/podman/backend.js'),
]);

/** benchConfig's text with podman as the default backend; no disk volume (podman refuses a disk limit). */
export function podmanConfig(base) {
  return base.replace('backend = "namespace"', 'backend = "podman"');
}

async function podmanGet(socket, path) {
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method: 'GET', path: `/v4.0.0/libpod${path}` }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The daemon's podman files (its home), and a one-shot `true` on the same root. */
export function openPodmanBaseline(daemon, liveSbxId) {
  const p = podmanPaths(daemon.home);
  const env = podmanEnv(p);
  let argv;
  async function prepare() {
    // The live sandbox's container, as podman sees it: its uid block and root skeleton.
    const block = Number(readFileSync(join(daemon.home, 'sandboxes', liveSbxId, '.podman-uids'), 'utf8').trim());
    const roots = readdirSync(p.hostRoot).filter((d) => !d.endsWith('.new'));
    const root = join(p.hostRoot, roots[0]);
    const binds = ['/usr', '/etc'].flatMap((d) => ['-v', `${d}:${d}:ro`]);
    argv = [
      'podman', '--root', p.graphRoot, '--runroot', p.runRoot, 'run', '--rm', '--read-only', '--read-only-tmpfs=false',
      '--network', 'none', '--log-driver', 'none', '--cap-drop', 'all', '--security-opt', 'no-new-privileges',
      '--security-opt', `seccomp=${join(p.dir, 'seccomp.json')}`,
      ...(Number.isInteger(block) && block > 0 ? ['--uidmap', `0:${block}:65536`, '--gidmap', `0:${block}:65536`] : []),
      ...binds, '--user', '1000:1000', '--rootfs', root, '/usr/bin/true',
    ];
    return argv;
  }
  function oneShotTrue() {
    return new Promise((resolve, reject) => {
      const c = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.once('error', reject);
      c.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`podman run exited ${code}: ${err.trim()}`))));
    });
  }
  return { prepare, oneShotTrue, get argv() { return argv; } };
}

/** PSS (MiB) of every process of the sandboxes' containers: each one's conmon and its container's process tree. */
export async function podmanIdlePss(daemon, ids) {
  const p = podmanPaths(daemon.home);
  let kib = 0;
  let processes = 0;
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = (() => {
      try {
        return readFileSync(`/proc/${name}/stat`, 'utf8');
      } catch {
        return '';
      }
    })();
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const tree = (pid) => [pid, ...(children.get(pid) ?? []).flatMap(tree)];
  for (const id of ids) {
    const info = await podmanGet(p.socket, `/containers/${containerName(daemon.home, id)}/json`);
    const conmon = info.State?.ConmonPid;
    for (const pid of conmon > 0 ? tree(conmon) : []) {
      kib += pssKib(pid);
      processes++;
    }
  }
  return { mib: kib / 1024, processes };
}
