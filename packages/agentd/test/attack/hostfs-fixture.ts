/**
 * Shared pieces of the host-file-system attack suite (hostfs-*.test.ts): a root-owned decoy
 * ("fake /etc") under a temp dir, a way to act on the host as a sandbox's own host uid (what
 * code inside the sandbox could do with a wider mount view, or a process of it that survived),
 * and the checks that the decoy is untouched.
 */
import { spawnSync } from 'node:child_process';
import { chmod, chown, lstat, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { isRoot, skipReason } from '../namespace/fixture.js';

/** Why the suite cannot run: it needs a root daemon (sandboxes then run as unprivileged host uids), bwrap and setpriv. */
export const hostfsSkip: string | undefined = skipReason ?? (!isRoot
  ? 'needs root: the attacks target what a root daemon does on the host'
  : spawnSync('setpriv', ['--version']).status !== 0 ? 'setpriv (util-linux) not found' : undefined);

export const SECRET = 'root-only-secret-4c1d\n';

export interface Decoy {
  /** Root-owned dir 0755 holding root-owned files: passwd (0644), shadow (0600, SECRET), shared (0666). */
  dir: string;
  /** Everything about the decoy, to compare before and after. */
  snapshot(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function makeDecoy(extraFiles: string[] = []): Promise<Decoy> {
  const base = await mkdtemp(join(tmpdir(), 'agentd-decoy-'));
  await chmod(base, 0o755);
  const dir = join(base, 'etc');
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { mode: 0o755 }));
  await chmod(dir, 0o755);
  await chown(dir, 0, 0);
  const files: Array<[string, string, number]> = [['passwd', 'root:x:0:0:decoy\n', 0o644], ['shadow', SECRET, 0o600], ['shared', 'shared\n', 0o666]];
  for (const n of extraFiles) files.push([n, `${n}\n`, 0o644]);
  for (const [name, text, mode] of files) {
    await writeFile(join(dir, name), text, { mode });
    await chmod(join(dir, name), mode);
  }
  const snap = async (): Promise<Record<string, unknown>> => {
    const out: Record<string, unknown> = {};
    const d = await lstat(dir);
    out['.'] = { uid: d.uid, gid: d.gid, mode: d.mode & 0o7777, dir: d.isDirectory(), dev: d.dev, parentDev: (await stat(base)).dev };
    for (const name of (await readdir(dir)).sort()) {
      const st = await lstat(join(dir, name));
      out[name] = { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, nlinkOk: st.nlink >= 1, text: st.isFile() ? await readFile(join(dir, name), 'utf8') : null };
    }
    return out;
  };
  const close = async (): Promise<void> => {
    // An attack that worked may have left a mount over the decoy: take it away first.
    for (let i = 0; i < 3 && (await stat(dir).catch(() => undefined))?.dev !== (await stat(base)).dev; i++) spawnSync('umount', ['-l', dir]);
    await rm(base, { recursive: true, force: true });
  };
  return { dir, snapshot: snap, close };
}

/** Runs argv on the host as `uid` (gid = the same number), no supplementary groups; exit code and stderr. */
export function asUid(uid: number, gid: number, argv: string[]): { code: number | null; err: string } {
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', ...argv], { encoding: 'utf8' });
  return { code: r.status, err: r.stderr };
}

/** The host uid/gid owning a sandbox folder (the sandbox's host ids). */
export async function ownerOf(path: string): Promise<{ uid: number; gid: number }> {
  const st = await lstat(path);
  return { uid: st.uid, gid: st.gid };
}

/** Every entry of a tree with its owner (lstat, never following). */
export async function ownersIn(root: string): Promise<Array<{ path: string; uid: number }>> {
  const out: Array<{ path: string; uid: number }> = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      const st = await lstat(p);
      out.push({ path: p, uid: st.uid });
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out;
}

/** Every regular file under root whose content includes `needle`. */
export async function filesContaining(root: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      const st = await lstat(p).catch(() => undefined);
      if (st === undefined) continue;
      if (st.isDirectory()) await walk(p);
      else if (st.isFile() && (await readFile(p, 'utf8').catch(() => '')).includes(needle)) hits.push(p);
    }
  };
  await walk(root);
  return hits;
}

export async function expectUntouched(decoy: Decoy, before: Record<string, unknown>): Promise<void> {
  expect(await decoy.snapshot()).toEqual(before);
}
