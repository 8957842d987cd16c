/**
 * The image store under `<home>/images` (root-owned, 0700: no sandbox uid can reach it;
 * sandboxes see an image only through the read-only idmapped mount their start makes):
 *
 *   blobs/sha256-<hex>/rootfs/      the root file system, never changed once stored
 *   blobs/sha256-<hex>/image.json   metadata (digest, size, source, config)
 *   refs/<name>                     {"digest": "sha256:<hex>"}: a name is a ref to a digest
 *   tmp/                            staging trees (removed when done, and at the next start)
 *
 * An image is content-addressed (digest.ts): two builds with the same result share one blob.
 * A name can be moved to a new digest (build or import again); sandboxes record the digest
 * they started from, so they keep it. `remove` refuses while a sandbox records the digest.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentdError } from '../core/errors.js';
import { digestTree } from './digest.js';
import { FINISH_SCRIPT, runInJail } from './jail.js';

/** Image names: what `--image` takes (a ref), also a safe file name. */
export const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface ImageSource {
  kind: 'mmdebstrap' | 'tar' | 'oci';
  [key: string]: unknown;
}

/** From an OCI image config (or empty): what a template or a create may use as defaults. */
export interface ImageConfig {
  env?: Record<string, string>;
  cmd?: string[];
  workdir?: string;
}

export interface ImageInfo {
  name?: string;
  digest: string;
  created_at: string;
  size_bytes: number;
  file_count: number;
  dir_count: number;
  source: ImageSource;
  config: ImageConfig;
  /** Seconds the build or import took. */
  seconds?: number;
}

export function checkImageName(name: string): string {
  if (!IMAGE_NAME.test(name)) {
    throw new AgentdError('INVALID_ARGUMENT', `image name '${name}' must be 1-128 of letters, digits, '_', '.', ':', '-' (starting with a letter or digit)`, { details: { name } });
  }
  return name;
}

/** `<home>/images` */
export function imagesDir(home: string): string {
  return join(home, 'images');
}

export class ImageStore {
  readonly root: string;

  constructor(home: string) {
    this.root = imagesDir(home);
  }

  private blobDir(digest: string): string {
    return join(this.root, 'blobs', digest.replace(':', '-'));
  }

  /** The folders, root-owned 0700. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await chmod(this.root, 0o700);
    for (const d of ['blobs', 'refs', 'tmp']) await mkdir(join(this.root, d), { recursive: true, mode: 0o700 });
  }

  /** A new empty staging folder (with `rootfs/` not made yet); the caller removes it (`discard`). */
  async staging(): Promise<string> {
    await this.init();
    const dir = join(this.root, 'tmp', `${Date.now()}-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { mode: 0o700 });
    return dir;
  }

  async discard(staging: string): Promise<void> {
    await rm(staging, { recursive: true, force: true });
  }

  /**
   * Stores `<staging>/rootfs` as image `name`: the finishing touches (jail.ts), the digest,
   * then the tree moves to its blob (or is dropped when that digest is stored already) and
   * the name points at it. The staging folder is removed in every case.
   */
  async add(name: string, staging: string, source: ImageSource, config: ImageConfig, startedMs: number, signal?: AbortSignal): Promise<ImageInfo> {
    checkImageName(name);
    try {
      const rootfs = join(staging, 'rootfs');
      await runInJail({ target: rootfs, script: FINISH_SCRIPT, ...(signal ? { signal } : {}) });
      const d = await digestTree(rootfs, signal);
      const blob = this.blobDir(d.digest);
      const info: ImageInfo = {
        digest: d.digest, created_at: new Date().toISOString(), size_bytes: d.sizeBytes, file_count: d.files, dir_count: d.dirs, source, config,
        seconds: Math.round((Date.now() - startedMs) / 100) / 10,
      };
      if ((await lstat(blob).catch(() => undefined)) === undefined) {
        await writeFile(join(staging, 'image.json'), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
        await chmod(staging, 0o700);
        await rename(staging, blob);
      }
      await this.setRef(name, d.digest);
      return { ...(await this.readBlob(d.digest)), name };
    } finally {
      await this.discard(staging);
    }
  }

  private async setRef(name: string, digest: string): Promise<void> {
    const file = join(this.root, 'refs', name);
    const tmp = `${file}.${randomBytes(4).toString('hex')}.new`;
    await writeFile(tmp, `${JSON.stringify({ digest })}\n`, { mode: 0o600, flag: 'wx' });
    await rename(tmp, file);
  }

  private async readBlob(digest: string): Promise<ImageInfo> {
    const text = await readFile(join(this.blobDir(digest), 'image.json'), 'utf8').catch(() => undefined);
    if (text === undefined) throw new AgentdError('NOT_FOUND', `no image with digest ${digest}`, { details: { digest } });
    return JSON.parse(text) as ImageInfo;
  }

  private async refOf(name: string): Promise<string | undefined> {
    const text = await readFile(join(this.root, 'refs', name), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const digest = (JSON.parse(text) as { digest?: unknown }).digest;
    return typeof digest === 'string' && DIGEST.test(digest) ? digest : undefined;
  }

  /** Name (or `sha256:...` digest) -> its metadata; NOT_FOUND. */
  async inspect(ref: string): Promise<ImageInfo> {
    if (DIGEST.test(ref)) return this.readBlob(ref);
    checkImageName(ref);
    const digest = await this.refOf(ref);
    if (digest === undefined) throw new AgentdError('NOT_FOUND', `no image '${ref}' (agentd image ls lists them; agentd image build ${ref} makes one)`, { details: { image: ref } });
    return { ...(await this.readBlob(digest)), name: ref };
  }

  /** What a sandbox start needs: the digest and the host path of the read-only root file system. */
  async resolve(ref: string): Promise<{ name: string; digest: string; rootfs: string }> {
    const info = await this.inspect(ref);
    return { name: info.name ?? ref, digest: info.digest, rootfs: this.rootfsOf(info.digest) };
  }

  rootfsOf(digest: string): string {
    if (!DIGEST.test(digest)) throw new AgentdError('INVALID_ARGUMENT', `'${digest}' is not an image digest`);
    return join(this.blobDir(digest), 'rootfs');
  }

  async list(): Promise<ImageInfo[]> {
    const names = await readdir(join(this.root, 'refs')).catch(() => [] as string[]);
    const out: ImageInfo[] = [];
    for (const name of names.filter((n) => IMAGE_NAME.test(n)).sort()) {
      const info = await this.inspect(name).catch(() => undefined);
      if (info !== undefined) out.push(info);
    }
    return out;
  }

  /**
   * Removes the name; its blob goes too when no other name points at it. Refused (CONFLICT)
   * while a sandbox whose files exist started from that digest (`usersOf` says which):
   * destroy them first. Returns whether the blob was removed.
   */
  async remove(name: string, usersOf: (digest: string) => string[]): Promise<{ name: string; digest: string; blobRemoved: boolean }> {
    const info = await this.inspect(checkImageName(name));
    const users = usersOf(info.digest);
    if (users.length > 0) {
      throw new AgentdError('CONFLICT', `image '${name}' is used by ${users.length} sandbox(es) (${users.slice(0, 5).join(', ')}): destroy them first`, { details: { image: name, digest: info.digest, sandboxes: users } });
    }
    await rm(join(this.root, 'refs', name), { force: true });
    const others = [];
    for (const n of await readdir(join(this.root, 'refs')).catch(() => [] as string[])) if ((await this.refOf(n)) === info.digest) others.push(n);
    if (others.length > 0) return { name, digest: info.digest, blobRemoved: false };
    // Renamed first, so a half-removed blob is never taken for an image.
    const doomed = join(this.root, 'tmp', `rm-${randomBytes(4).toString('hex')}`);
    await rename(this.blobDir(info.digest), doomed);
    await rm(doomed, { recursive: true, force: true });
    return { name, digest: info.digest, blobRemoved: true };
  }
}
