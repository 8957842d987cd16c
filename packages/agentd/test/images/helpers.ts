/**
 * The test image, built once per package list and kept in /var/tmp/agentd-test-images/<key>/
 * (an image store of its own), so repeated runs reuse it. The first build needs the Debian
 * mirror apt uses here: when it is unreachable the test fails saying so (never skips).
 * A test home gets the cached store as its `images` folder (a symlink).
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, rmdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage } from '../../src/images/build.js';
import { ImageStore } from '../../src/images/store.js';

export const TEST_IMAGE = 'python';
export const TEST_PACKAGES = ['python3', 'python3-pytest'];
export const CACHE_ROOT = '/var/tmp/agentd-test-images';

function cacheDir(): string {
  const key = createHash('sha256').update(JSON.stringify({ packages: TEST_PACKAGES, v: 1 })).digest('hex').slice(0, 16);
  return join(CACHE_ROOT, key);
}

async function exists(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => undefined)) !== undefined;
}

/** The cache folder holding image TEST_IMAGE (built now when missing; one builder at a time across test files). */
export async function cachedImageStore(): Promise<string> {
  const dir = cacheDir();
  await mkdir(dir, { recursive: true, mode: 0o711 });
  const store = new ImageStore(dir);
  const lock = join(dir, '.building');
  for (;;) {
    if ((await store.inspect(TEST_IMAGE).catch(() => undefined)) !== undefined) return dir;
    try {
      await mkdir(lock);
    } catch {
      // Another test file builds it: wait for it (a lock left by a build that died is taken back after 15 minutes).
      const st = await lstat(lock).catch(() => undefined);
      if (st !== undefined && Date.now() - st.mtimeMs > 15 * 60_000) await rmdir(lock).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 2000));
      continue;
    }
    try {
      if ((await store.inspect(TEST_IMAGE).catch(() => undefined)) !== undefined) return dir;
      const info = await buildImage(store, { name: TEST_IMAGE, packages: TEST_PACKAGES }, () => undefined).catch((err: Error) => {
        throw new Error(`the test image could not be built (it needs the Debian mirror this host's apt uses): ${err.message}`);
      });
      process.stderr.write(`test image built: ${info.digest} ${info.size_bytes} bytes in ${info.seconds ?? '?'} s\n`);
      return dir;
    } finally {
      await rmdir(lock).catch(() => undefined);
    }
  }
}

/** Makes `<home>/images` the cached store (the daemon and the CLI find the test image there). */
export async function linkCachedImages(home: string): Promise<void> {
  const dir = await cachedImageStore();
  if (!(await exists(join(home, 'images')))) await symlink(join(dir, 'images'), join(home, 'images'));
}
