/**
 * The OCI bundle generated from a spec (src/isolation/oci/bundle.ts), checked as data: what a
 * runtime is told to do is what the namespace backend does, and the unsafe variants are refused.
 */
import { describe, expect, it } from 'vitest';
import type { AgentdError } from '../../src/core/errors.js';
import { ociConfig, SANDBOX_SECCOMP_PATH, skeletonEntries, type BundleInput } from '../../src/isolation/oci/bundle.js';
import { baseMounts, planMounts } from '../../src/isolation/namespace/mounts.js';
import type { SandboxSpec } from '../../src/isolation/types.js';

const dirs = { root: '/h/sandboxes/s1', workspace: '/h/sandboxes/s1/workspace', home: '/h/sandboxes/s1/home', tmp: '/h/sandboxes/s1/tmp' };
const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  id: 's1', profile: 'server', dirs, env: {}, network: 'none', limits: {}, allowedPathsRo: [], allowedPathsRw: [], bindMounts: [], denyPaths: [], labels: {}, ...over,
});
const files = { passwdFile: '/h/sandboxes/s1/.ns-passwd', groupFile: '/h/sandboxes/s1/.ns-group', maskFile: '/h/sandboxes/s1/.ns-mask' };
const system = [{ path: '/usr', kind: 'dir' as const }, { path: '/bin', kind: 'symlink' as const, target: 'usr/bin' }];

function input(s: SandboxSpec, over: Partial<BundleInput> = {}): BundleInput {
  const hostMounts = [{ source: '/srv/data', fd: 0, target: '/data', readonly: true, what: 'allowed_paths_ro' }];
  const mounts = planMounts({ spec: s, system, initPath: '/opt/agentd-init', ...files, hostMounts, denyKinds: { '/etc/shadow': 'file' } }).mounts;
  return {
    spec: s, mounts, stagedSource: (fd) => `/h/sandboxes/s1/.mounts/${fd}`, seccompFile: '/opt/seccomp.bpf',
    rootfs: { path: '/h/sandboxes/s1/.oci-rootfs', readonly: true },
    userns: { agent: { uid: 1000005, gid: 1000005 }, root: { uid: 1000006, gid: 1000006 } },
    user: { uid: 1000, gid: 1000 }, caps: [], cgroupsPath: '/agentd/s1', env: { PATH: '/usr/bin' }, ...over,
  };
}

describe('the OCI bundle of a sandbox', () => {
  it('maps only uid 0 and 1000, each to the sandbox\'s own unprivileged host uid, and runs the init as 1000 with no capabilities', () => {
    const c = ociConfig(input(spec({ denyPaths: ['/etc/shadow'] })));
    expect(c.linux.uidMappings).toEqual([{ containerID: 0, hostID: 1000006, size: 1 }, { containerID: 1000, hostID: 1000005, size: 1 }]);
    expect((c.linux.uidMappings as Array<{ hostID: number }>).every((m) => m.hostID !== 0)).toBe(true);
    expect(c.process.user).toMatchObject({ uid: 1000, gid: 1000 });
    expect(c.process.noNewPrivileges).toBe(true);
    expect(Object.values(c.process.capabilities as Record<string, string[]>).every((v) => v.length === 0)).toBe(true);
    expect((c.linux.namespaces as Array<{ type: string }>).map((n) => n.type).sort()).toEqual(['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
    expect(c.linux.rootfsPropagation).toBe('rprivate');
    expect(c.root).toEqual({ path: '/h/sandboxes/s1/.oci-rootfs', readonly: true });
  });

  it('loads the seccomp filter first thing, from a read-only bind of the namespace backend\'s BPF', () => {
    const c = ociConfig(input(spec()));
    expect((c.process.args as string[]).slice(0, 3)).toEqual(['/.agentd/init', '--seccomp-file', SANDBOX_SECCOMP_PATH]);
    expect(c.mounts.find((m) => m.destination === SANDBOX_SECCOMP_PATH)).toMatchObject({ source: '/opt/seccomp.bpf', options: expect.arrayContaining(['ro']) as unknown });
    expect(c.linux.seccomp).toBeUndefined();
  });

  it('binds a host path from its staging point, never from the user\'s path; masks deny paths; system folders read-only', () => {
    const c = ociConfig(input(spec({ denyPaths: ['/etc/shadow'] })));
    const data = c.mounts.find((m) => m.destination === '/data');
    expect(data?.source).toBe('/h/sandboxes/s1/.mounts/0');
    expect(c.mounts.some((m) => m.source === '/srv/data')).toBe(false);
    expect(c.mounts.find((m) => m.destination === '/etc/shadow')).toMatchObject({ source: files.maskFile, options: expect.arrayContaining(['ro']) as unknown });
    expect(c.mounts.find((m) => m.destination === '/usr')?.options).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev']));
    expect(c.mounts.find((m) => m.destination === '/workspace')).toMatchObject({ source: dirs.workspace, options: expect.arrayContaining(['rw']) as unknown });
  });

  it('refuses network host where the profile does not allow it, and allowlist without the egress proxy', () => {
    const err = (f: () => unknown): AgentdError => {
      try {
        f();
      } catch (e) {
        return e as AgentdError;
      }
      throw new Error('no error');
    };
    expect(err(() => ociConfig(input(spec({ network: 'host' })))).code).toBe('INVALID_ARGUMENT');
    expect(err(() => ociConfig(input(spec({ network: 'allowlist' })))).code).toBe('BACKEND_UNAVAILABLE');
    const host = ociConfig(input(spec({ network: 'host', profile: 'workstation' })));
    expect((host.linux.namespaces as Array<{ type: string }>).some((n) => n.type === 'network')).toBe(false);
    const allow = ociConfig(input(spec({ network: 'allowlist', net: { hostDir: '/h/net/s1', proxyPort: 4000 } })));
    expect((allow.linux.namespaces as Array<{ type: string }>).some((n) => n.type === 'network')).toBe(true);
    expect(allow.mounts.find((m) => m.destination === '/.agentd/net')).toMatchObject({ source: '/h/net/s1', options: expect.arrayContaining(['ro']) as unknown });
    expect(allow.process.args).toEqual(expect.arrayContaining(['--proxy-port', '4000']));
  });

  it('refuses an environment variable the runtime would misread', () => {
    expect(() => ociConfig(input(spec(), { env: { 'A=B': 'x' } }))).toThrow(/invalid variable name/);
  });

  it('makes mount points in the skeleton only where no bind mount covers them, and the plan\'s links', () => {
    const s = spec();
    const plan = baseMounts({ spec: s, system, initPath: '/opt/agentd-init', ...files, hostMounts: [] });
    const c = ociConfig(input(s, { mounts: plan }));
    const entries = skeletonEntries(c.mounts, plan, new Set(['/.agentd/init', SANDBOX_SECCOMP_PATH]));
    const paths = entries.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/usr', '/etc', '/workspace', '/home', '/home/agent', '/tmp', '/.agentd', '/.agentd/init', '/bin', '/var', '/var/tmp']));
    // /etc/passwd lies inside the /etc bind: the runtime finds it there, the skeleton makes nothing for it.
    expect(paths).not.toContain('/etc/passwd');
    expect(entries.find((e) => e.path === '/bin')).toEqual({ path: '/bin', kind: 'symlink', target: 'usr/bin' });
    expect(entries.find((e) => e.path === '/.agentd/init')?.kind).toBe('file');
  });
});
