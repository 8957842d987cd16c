/**
 * The shared skeleton root of OCI sandboxes without an image (src/isolation/oci/skeleton.ts):
 * made once per mount layout, under `<home>/oci-rootfs`, owned by the daemon and writable by
 * nobody else; a folder of that name the daemon did not make (or one others can write) is
 * refused, never used as a sandbox's root.
 */
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ociConfig, SANDBOX_SECCOMP_PATH } from '../../src/isolation/oci/bundle.js';
import { skeletonRoot, skeletonsDir } from '../../src/isolation/oci/skeleton.js';
import { baseMounts } from '../../src/isolation/namespace/mounts.js';
import type { SandboxSpec } from '../../src/isolation/types.js';

const home = mkdtempSync(join(tmpdir(), 'agentd-skeleton-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

// Real sources: the skeleton makes a file mount point where a bind's source is a file.
const src = join(home, 'src');
mkdirSync(src);
for (const f of ['init', 'seccomp.bpf', 'passwd', 'group', 'mask']) writeFileSync(join(src, f), '');
const system = [{ path: '/usr', kind: 'dir' as const }, { path: '/bin', kind: 'symlink' as const, target: 'usr/bin' }];

function configFor(id: string, extra: Partial<SandboxSpec> = {}): { config: ReturnType<typeof ociConfig>; plan: ReturnType<typeof baseMounts> } {
  const root = join(home, 'sandboxes', id);
  const dirs = { root, workspace: join(root, 'workspace'), home: join(root, 'home'), tmp: join(root, 'tmp') };
  const spec: SandboxSpec = { id, profile: 'server', dirs, env: {}, network: 'none', limits: {}, allowedPathsRo: [], allowedPathsRw: [], bindMounts: [], denyPaths: [], labels: {}, ...extra };
  const files = { passwdFile: join(src, 'passwd'), groupFile: join(src, 'group'), maskFile: join(src, 'mask') };
  const plan = baseMounts({ spec, system, initPath: join(src, 'init'), ...files, hostMounts: [] });
  const config = ociConfig({
    spec, mounts: plan, stagedSource: () => '/nonexistent', seccompFile: join(src, 'seccomp.bpf'), rootfs: { path: '', readonly: true },
    user: { uid: 1000, gid: 1000 }, caps: [], env: { PATH: '/usr/bin' },
  });
  return { config, plan };
}

describe('the skeleton root of OCI sandboxes', () => {
  it('is one daemon-owned folder per mount layout, shared by every sandbox of that layout, with the mount points and links', async () => {
    const a = configFor('sbx_a');
    const b = configFor('sbx_b');
    const pa = await skeletonRoot(home, a.config, a.plan);
    const pb = await skeletonRoot(home, b.config, b.plan);
    expect(pa).toBe(pb);
    expect(pa.startsWith(`${skeletonsDir(home)}/`)).toBe(true);
    const base = lstatSync(skeletonsDir(home));
    expect(base.mode & 0o7777).toBe(0o711);
    const st = lstatSync(pa);
    expect(st.isDirectory() && st.uid === process.getuid?.()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o755);
    expect(readlinkSync(join(pa, 'bin'))).toBe('usr/bin');
    expect(lstatSync(join(pa, 'usr')).isDirectory()).toBe(true);
    expect(lstatSync(join(pa, 'workspace')).isDirectory()).toBe(true);
    // A bind of a file gets a file as its mount point.
    expect(lstatSync(join(pa, '.agentd', 'init')).isFile()).toBe(true);
    expect(lstatSync(join(pa, SANDBOX_SECCOMP_PATH.slice(1))).isFile()).toBe(true);
    // No staging folder is left behind.
    expect(readdirSync(skeletonsDir(home)).filter((n) => n.endsWith('.new'))).toEqual([]);
  });

  it('gives another layout its own folder', async () => {
    const plain = configFor('sbx_c');
    const other = configFor('sbx_d', { network: 'allowlist', net: { hostDir: src, proxyPort: 4000 } });
    expect(await skeletonRoot(home, other.config, other.plan)).not.toBe(await skeletonRoot(home, plain.config, plain.plan));
  });

  it('refuses a folder of its name that others can write, or that is not a folder', async () => {
    const { config, plan } = configFor('sbx_e', { profile: 'workstation' });
    const path = await skeletonRoot(home, config, plan);
    // The same layout in another home, where a folder of the skeleton's name was put by someone else.
    const home2 = mkdtempSync(join(tmpdir(), 'agentd-skeleton-'));
    try {
      mkdirSync(skeletonsDir(home2), { mode: 0o711 });
      const key = path.slice(path.lastIndexOf('/') + 1);
      mkdirSync(join(skeletonsDir(home2), key), { mode: 0o777 });
      chmodSync(join(skeletonsDir(home2), key), 0o777);
      await expect(skeletonRoot(home2, config, plan)).rejects.toMatchObject({ code: 'CONFLICT' });
      rmSync(join(skeletonsDir(home2), key), { recursive: true });
      writeFileSync(join(skeletonsDir(home2), key), '');
      await expect(skeletonRoot(home2, config, plan)).rejects.toMatchObject({ code: 'CONFLICT' });
    } finally {
      rmSync(home2, { recursive: true, force: true });
    }
  });
});
