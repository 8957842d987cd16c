/**
 * The root file system of a namespace sandbox that names an image (docs/images.md):
 *
 *   lower  <root>/.image-lower   the image's rootfs from the store, as an idmapped mount
 *                                (read-only, nosuid, nodev): uid 0 on disk is seen as the
 *                                sandbox's root-inside host uid, uid 1000 as its agent uid
 *   upper  <base>/layer/upper    the sandbox's own writable layer (<base>: its disk volume
 *   work   <base>/layer/work     when it has a disk limit, so the limit applies; else its folder)
 *   root   <root>/.image-root    overlayfs(lower, upper), nosuid, nodev: bound as the sandbox's `/`
 *
 * and the sandbox's user namespace, made here before bwrap runs (bwrap `--userns`): uid 0
 * inside maps to the sandbox's second host uid (its root lease), uid 1000 (agent) to its
 * usual one; no other uid exists inside. The mounts live in the host's mount namespace
 * under root-owned folders, only while the sandbox runs (unmountImageRoot at stop, destroy
 * and recovery). Root daemon only: mapping two uids and mounting need host root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, lchown, lstat, mkdir, open, readlink, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { nativePaths } from '../../native-paths.js';
import { runAs } from '../tree-ops.js';
import type { HostIds, HostUidAllocator } from '../host-ids.js';
import type { SandboxDirs, SandboxSpec } from '../types.js';
import { checkSandboxPath, isUnder, SANDBOX_PATHS, type HostMount, type Mount } from './mounts.js';
import { AGENT_UID, imageLayerPaths, ROOT_UID, rootUidFile, unmountImageRoot } from '../image-layer.js';

// The shared layer helpers, still importable from here.
export { AGENT_UID, giveRootFilesToOwner, imageLayerPaths, recordedRootUid, ROOT_UID, rootUidFile, unmountImageRoot } from '../image-layer.js';
export type { ImageLayerPaths } from '../image-layer.js';

/**
 * The capabilities a root-inside command keeps (all of them only in the sandbox's user
 * namespace, over files whose owner is mapped in it): Docker's default set without MKNOD,
 * NET_RAW and AUDIT_WRITE. Enough for dpkg and apt; no SYS_ADMIN, SYS_PTRACE, SYS_MODULE.
 */
export const ROOT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_SETFCAP',
] as const;

/** A real directory made by the daemon (never through a link). */
async function ownFolder(dir: string, mode: number): Promise<void> {
  await mkdir(dir, { mode }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.()) throw new AgentdError('CONFLICT', `${dir} is not a folder of the daemon's`, { details: { path: dir } });
  await chmod(dir, mode);
}

/**
 * A process (as `owner`) in a new user namespace; its maps are written by the daemon. It is
 * needed only until the idmapped mount is made and the namespace's fd opened (that fd, then
 * bwrap's copy, keeps the namespace): killed right after the start; after a daemon crash it
 * ends by itself within a minute.
 */
async function userNamespace(owner: HostIds, root: HostIds): Promise<{ holder: ChildProcess; nsPath: string }> {
  const holder = spawn('setpriv', [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--clear-groups', '--', 'unshare', '--user', '--', 'sleep', '60'], {
    stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const pid = holder.pid;
  if (pid === undefined) throw new AgentdError('BACKEND_UNAVAILABLE', 'cannot start setpriv/unshare for the sandbox user namespace');
  const mine = await readlink('/proc/self/ns/user');
  for (let i = 0; ; i++) {
    const ns = await readlink(`/proc/${pid}/ns/user`).catch(() => undefined);
    if (ns !== undefined && ns !== mine) break;
    if (i > 400 || holder.exitCode !== null) {
      holder.kill('SIGKILL');
      throw new AgentdError('BACKEND_UNAVAILABLE', 'the sandbox user namespace was not made (unshare --user failed?)');
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const map = `${ROOT_UID} ${root.uid} 1\n${AGENT_UID} ${owner.uid} 1\n`;
  const gmap = `${ROOT_UID} ${root.gid} 1\n${AGENT_UID} ${owner.gid} 1\n`;
  try {
    await writeFile(`/proc/${pid}/uid_map`, map);
    await writeFile(`/proc/${pid}/gid_map`, gmap);
  } catch (err) {
    holder.kill('SIGKILL');
    throw new AgentdError('BACKEND_UNAVAILABLE', `cannot write the sandbox's uid map: ${(err as Error).message}`, { cause: err });
  }
  return { holder, nsPath: `/proc/${pid}/ns/user` };
}

export interface MountedImageRoot {
  /** The overlay, bound as the sandbox's `/`. */
  merged: string;
  /** The sandbox's user namespace, handed to bwrap (`--userns FD`). */
  userns: FileHandle;
  /** Ends the process holding the namespace (bwrap holds it once started) and closes the fd. */
  release(): Promise<void>;
}

/**
 * Makes the sandbox's user namespace and mounts its root (see the top of this file). The
 * upper layer is made on the first start (owned by the root-inside uid, so `/` is root's
 * inside) and kept across restarts; leftovers of a crashed start are unmounted first.
 */
export async function mountImageRoot(dirs: SandboxDirs, imageRootfs: string, agent: HostIds, root: HostIds): Promise<MountedImageRoot> {
  const p = imageLayerPaths(dirs);
  await unmountImageRoot(dirs);
  await ownFolder(p.layer, 0o700);
  const fresh = (await lstat(p.upper).catch(() => undefined)) === undefined;
  await ownFolder(p.work, 0o700);
  if (fresh) {
    await mkdir(p.upper, { mode: 0o755 });
    await lchown(p.upper, root.uid, root.gid);
  } else {
    const st = await lstat(p.upper);
    if (!st.isDirectory()) throw new AgentdError('CONFLICT', `${p.upper} is not a folder`, { details: { path: p.upper } });
  }
  await ownFolder(p.lower, 0o700);
  await ownFolder(p.merged, 0o755);
  const ns = await userNamespace(agent, root);
  let userns: FileHandle | undefined;
  try {
    await runAs(undefined, [nativePaths().idmap, 'mount-image', ns.nsPath, imageRootfs, p.lower]);
    await runAs(undefined, ['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${p.lower},upperdir=${p.upper},workdir=${p.work},nosuid,nodev`, p.merged]);
    userns = await open(ns.nsPath, 'r');
  } catch (err) {
    ns.holder.kill('SIGKILL');
    await unmountImageRoot(dirs).catch(() => undefined);
    throw err instanceof AgentdError ? new AgentdError('BACKEND_UNAVAILABLE', `cannot mount the image root: ${err.message}`, { cause: err }) : err;
  }
  const fd = userns;
  return {
    merged: p.merged,
    userns: fd,
    release: async () => {
      ns.holder.kill('SIGKILL');
      await fd.close().catch(() => undefined);
    },
  };
}

/** The mounts of a sandbox with an image: its overlay as `/`, then what every sandbox gets, then its host paths and masks. */
export async function imageMounts(inp: { spec: SandboxSpec; merged: string; imageRootfs: string; initPath: string; hostMounts: HostMount[]; maskFile: string }): Promise<Mount[]> {
  const { spec } = inp;
  const mounts: Mount[] = [
    { op: 'bind', source: inp.merged, target: '/' },
    { op: 'proc', target: '/proc' },
    { op: 'dev', target: '/dev' },
    { op: 'bind', source: spec.dirs.workspace, target: SANDBOX_PATHS.workspace },
    { op: 'bind', source: spec.dirs.home, target: SANDBOX_PATHS.home },
    { op: 'bind', source: spec.dirs.tmp, target: SANDBOX_PATHS.tmp },
    { op: 'ro-bind', source: inp.initPath, target: SANDBOX_PATHS.init },
  ];
  for (const h of inp.hostMounts) {
    checkSandboxPath(h.target, h.what);
    if (['/', '/proc', '/dev', '/.agentd', SANDBOX_PATHS.workspace, SANDBOX_PATHS.home, SANDBOX_PATHS.tmp].some((r) => isUnder(r, h.target))) {
      throw new AgentdError('INVALID_ARGUMENT', `${h.what}: '${h.target}' would replace or hide the sandbox's own folders`, { details: { path: h.target } });
    }
    mounts.push({ op: h.readonly ? 'ro-bind-fd' : 'bind-fd', fd: h.fd, source: h.source, target: h.target });
  }
  for (const p of spec.denyPaths) {
    checkSandboxPath(p, 'deny_paths');
    if (p === '/' || ['/proc', '/dev', '/.agentd', SANDBOX_PATHS.workspace, SANDBOX_PATHS.home, SANDBOX_PATHS.tmp, SANDBOX_PATHS.init].includes(p)) {
      throw new AgentdError('INVALID_ARGUMENT', `deny_paths: '${p}' cannot be masked (the sandbox needs it)`, { details: { path: p } });
    }
    // The kind in the image (the daemon's own, read-only tree; lstat: a link is masked as a file).
    const st = await lstat(join(inp.imageRootfs, p)).catch(() => undefined);
    mounts.push(st !== undefined && !st.isDirectory() ? { op: 'mask-file', source: inp.maskFile, target: p } : { op: 'mask-dir', target: p });
  }
  return mounts;
}

/**
 * The sandbox's second host uid (root inside), leased like its first one: the lease's owner
 * is `<id>/.root-uid`, a file the daemon keeps in the sandbox's folder, so the lease is stale
 * (and taken back by the next lease) once the sandbox's folder is gone.
 */
export async function rootIdsFor(uids: HostUidAllocator, spec: SandboxSpec): Promise<HostIds> {
  const file = rootUidFile(spec.dirs);
  const st = await lstat(file).catch(() => undefined);
  if (st !== undefined && (!st.isFile() || st.uid !== process.getuid?.())) throw new AgentdError('CONFLICT', `${file} is not the daemon's file`, { details: { path: file } });
  if (st === undefined) await writeFile(file, '', { mode: 0o600, flag: 'wx' }).catch(() => undefined);
  const ids = await uids.acquire(spec.dirs.root, `${spec.id}/.root-uid`);
  const staged = `${file}.new`;
  await writeFile(staged, `${ids.uid}\n`, { mode: 0o600 });
  await rename(staged, file);
  return ids;
}

