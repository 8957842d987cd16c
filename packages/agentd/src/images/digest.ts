/**
 * The content address of an image: sha256 over a canonical listing of its root file system
 * (every entry sorted by path: type, mode, owner, size, and the sha256 of a file's bytes or a
 * link's target). The same tree always gives the same digest, whatever it was made from (a
 * build, a tarball, an OCI layout), and times do not count. The walk never follows a link
 * (lstat, and only real directories are descended into).
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../core/errors.js';

export interface TreeDigest {
  /** `sha256:<hex>` */
  digest: string;
  /** Apparent bytes of regular files. */
  sizeBytes: number;
  files: number;
  dirs: number;
}

function fileHash(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (c) => h.update(c)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'd';
  if (st.isFile()) return 'f';
  if (st.isSymbolicLink()) return 'l';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  return 's';
}

export async function digestTree(root: string, signal?: AbortSignal): Promise<TreeDigest> {
  const outer = createHash('sha256');
  const out: TreeDigest = { digest: '', sizeBytes: 0, files: 0, dirs: 0 };
  const walk = async (rel: string): Promise<void> => {
    if (signal?.aborted) throw new AgentdError('CANCELLED', 'image digest cancelled', { cause: signal.reason });
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const path = join(root, r);
      const st = await lstat(path);
      const k = kindOf(st);
      let extra = '';
      if (k === 'f') {
        extra = await fileHash(path);
        out.sizeBytes += st.size;
        out.files += 1;
      } else if (k === 'l') {
        extra = await readlink(path);
        out.files += 1;
      } else if (k === 'c' || k === 'b') {
        extra = String(st.rdev);
        out.files += 1;
      } else if (k === 'd') {
        out.dirs += 1;
      } else {
        out.files += 1;
      }
      outer.update(`${k} ${(st.mode & 0o7777).toString(8)} ${st.uid} ${st.gid} ${k === 'f' ? st.size : 0} ${JSON.stringify(extra)} ${JSON.stringify(r)}\n`);
      if (k === 'd') await walk(r);
    }
  };
  await walk('');
  out.digest = `sha256:${outer.digest('hex')}`;
  return out;
}
