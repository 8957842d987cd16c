/**
 * Every host path an OCI sandbox mounts (allowed paths, bind mounts) is first mounted by the
 * daemon onto a staging point it owns (`<sandbox>/.mounts/<i>`, the same folder the namespace
 * backend uses, so removal and recovery detach it the same way), from the descriptor
 * isolation/host-paths.ts pinned: the runtime then binds the staging point, a path nobody
 * else can change, never the user's path. A rename or symlink swap after the check changes
 * nothing. Bind mounts keep their owner (idmapped onto the sandbox's uid, as in
 * namespace/owner-mounts.ts); allowed paths are mapped owner-to-itself (an identity mapping:
 * what the sandbox may do there is what its own uid may). Detached from the host once the
 * sandbox is up (it keeps its copies: the bundle's root propagation is private).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../../core/errors.js';
import { nativePaths } from '../../native-paths.js';
import type { HostIds } from '../host-ids.js';
import type { PinnedHostPath } from '../host-paths.js';
import { stagingDir, unstageOwnerMounts } from '../namespace/owner-mounts.js';

function runIdmap(args: string[], fd: number): Promise<void> {
  const helper = nativePaths().idmap;
  return new Promise<void>((resolve, reject) => {
    const child = spawn(helper, args, { env: {}, stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on('error', (err) => reject(new AgentdError('BACKEND_UNAVAILABLE', `host path mount failed (${helper}): ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new AgentdError('BACKEND_UNAVAILABLE', `host path mount failed: ${stderr.trim() || `agentd-idmap exited ${String(code)}`}`));
    });
  });
}

/** Stages each pinned host path (`mapTo`: the sandbox's ids for an owner-preserving bind mount; absent: identity). All or none. */
export async function stageHostMounts(root: string, mounts: ReadonlyArray<{ pinned: PinnedHostPath; readonly: boolean; mapTo?: HostIds }>): Promise<string[]> {
  if (mounts.length === 0) return [];
  const dir = stagingDir(root);
  await unstageOwnerMounts(root);
  await mkdir(dir, { mode: 0o711 });
  const paths: string[] = [];
  try {
    for (const [i, m] of mounts.entries()) {
      const path = join(dir, String(i));
      if (m.pinned.kind === 'dir') await mkdir(path, { mode: 0o700 });
      else await (await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600)).close();
      const st = await m.pinned.handle.stat();
      const uid = m.mapTo?.uid ?? st.uid;
      const gid = m.mapTo?.gid ?? st.gid;
      await runIdmap(['mount', '--fd', '3', '--target', path, '--uid', `${st.uid}:${uid}`, '--gid', `${st.gid}:${gid}`, ...(m.readonly ? ['--ro'] : [])], m.pinned.handle.fd);
      paths.push(path);
    }
    return paths;
  } catch (err) {
    await unstageOwnerMounts(root).catch(() => undefined);
    throw err;
  }
}
