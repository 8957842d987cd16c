/** The pure parts of the namespace backend: mount planning, bwrap's argv and the launcher's argv. */
import { describe, expect, test } from 'vitest';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import { bwrapArgs, sandboxEnv, sandboxHostname } from '../../src/isolation/namespace/bwrap-args.js';
import { launchArgv } from '../../src/isolation/namespace/launch.js';
import { baseMounts, hostPathOf, planMounts, wantedHostMounts, type HostMount, type SystemEntry } from '../../src/isolation/namespace/mounts.js';

/** The spec's host paths as the backend mounts them once checked: by descriptor (10, 11, ...). */
const hm = (s: SandboxSpec): HostMount[] =>
  wantedHostMounts(s, { allowedPathsRo: [], allowedPathsRw: [] }).map((w, i) => ({ source: w.given, fd: 10 + i, target: w.target, readonly: w.readonly, what: w.what }));
import type { SandboxSpec } from '../../src/isolation/types.js';

const system: SystemEntry[] = [
  { path: '/usr', kind: 'dir' },
  { path: '/bin', kind: 'symlink', target: 'usr/bin' },
  { path: '/lib64', kind: 'dir' },
];

function spec(over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id: 'sbx1', profile: 'server', dirs: sandboxDirs('/var/lib/agentd', 'sbx1'), env: {}, network: 'none', limits: {},
    allowedPathsRo: [], allowedPathsRw: [], bindMounts: [], denyPaths: [], labels: {}, ...over,
  };
}

const files = { initPath: '/opt/agentd/agentd-init', passwdFile: '/var/lib/agentd/sandboxes/sbx1/.ns-passwd', groupFile: '/var/lib/agentd/sandboxes/sbx1/.ns-group', maskFile: '/m' };

/** `flag a b` triples/pairs of argv, for readable assertions. */
function has(argv: string[], ...seq: string[]): boolean {
  for (let i = 0; i + seq.length <= argv.length; i++) if (seq.every((s, j) => argv[i + j] === s)) return true;
  return false;
}

describe('bwrapArgs', () => {
  test('every namespace, the sandbox user, no capabilities, and the init last', () => {
    const argv = bwrapArgs({ spec: spec(), mounts: planMounts({ spec: spec(), system, ...files, hostMounts: [], denyKinds: {} }).mounts, seccompFd: 3 });
    for (const ns of ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup', '--unshare-net', '--disable-userns']) expect(argv).toContain(ns);
    expect(has(argv, '--uid', '1000')).toBe(true);
    expect(has(argv, '--gid', '1000')).toBe(true);
    expect(has(argv, '--cap-drop', 'ALL')).toBe(true);
    expect(has(argv, '--seccomp', '3')).toBe(true);
    for (const f of ['--die-with-parent', '--new-session', '--as-pid-1', '--clearenv']) expect(argv).toContain(f);
    expect(has(argv, '--chdir', '/workspace')).toBe(true);
    expect(argv.slice(-4)).toEqual(['--', '/.agentd/init', '--fs-root', '/']);
    expect(has(argv, '--ro-bind', files.initPath, '/.agentd/init')).toBe(true);
  });

  test('system dirs read-only, symlinks kept as symlinks, own folders read-write', () => {
    const s = spec();
    const argv = bwrapArgs({ spec: s, mounts: baseMounts({ spec: s, system, ...files, hostMounts: hm(s) }) });
    expect(has(argv, '--ro-bind', '/usr', '/usr')).toBe(true);
    expect(has(argv, '--symlink', 'usr/bin', '/bin')).toBe(true);
    expect(has(argv, '--ro-bind', '/etc', '/etc')).toBe(true);
    expect(has(argv, '--ro-bind', files.passwdFile, '/etc/passwd')).toBe(true);
    expect(has(argv, '--bind', s.dirs.workspace, '/workspace')).toBe(true);
    expect(has(argv, '--bind', s.dirs.home, '/home/agent')).toBe(true);
    expect(has(argv, '--bind', s.dirs.tmp, '/tmp')).toBe(true);
    expect(has(argv, '--proc', '/proc')).toBe(true);
    expect(has(argv, '--dev', '/dev')).toBe(true);
    // The root is made read-only after every mount.
    expect(argv.lastIndexOf('--remount-ro')).toBeGreaterThan(argv.lastIndexOf('--bind'));
  });

  test("environment: cleared, then the sandbox's defaults under the spec's own", () => {
    const s = spec({ env: { FOO: 'bar', PATH: '/custom' } });
    expect(sandboxEnv(s)).toMatchObject({ HOME: '/home/agent', USER: 'agent', TMPDIR: '/tmp', FOO: 'bar', PATH: '/custom' });
    const argv = bwrapArgs({ spec: s, mounts: [] });
    expect(argv.indexOf('--clearenv')).toBeLessThan(argv.indexOf('--setenv'));
    expect(has(argv, '--setenv', 'FOO', 'bar')).toBe(true);
    expect(() => bwrapArgs({ spec: spec({ env: { 'A=B': 'x' } }), mounts: [] })).toThrow(/invalid variable/);
  });

  test("network: 'none' unshares it, 'host' only where the profile's rules allow it (workstation, custom), 'allowlist' an empty namespace too, with the daemon's network folder and the proxy relay", () => {
    expect(bwrapArgs({ spec: spec({ network: 'none' }), mounts: [] })).toContain('--unshare-net');
    expect(bwrapArgs({ spec: spec({ network: 'host', profile: 'workstation' }), mounts: [] })).not.toContain('--unshare-net');
    expect(bwrapArgs({ spec: spec({ network: 'host', profile: 'custom' }), mounts: [] })).not.toContain('--unshare-net');
    for (const profile of ['server', 'paranoid'] as const) {
      expect(() => bwrapArgs({ spec: spec({ network: 'host', profile }), mounts: [] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    // Without the daemon's network service there is no proxy: refused, never started with a network.
    expect(() => bwrapArgs({ spec: spec({ network: 'allowlist' }), mounts: [] })).toThrow(expect.objectContaining({ code: 'BACKEND_UNAVAILABLE' }));
    const a = bwrapArgs({ spec: spec({ network: 'allowlist', net: { hostDir: '/var/lib/agentd/net/x', proxyPort: 3128 } }), mounts: [] });
    expect(a).toContain('--unshare-net');
    expect(a.join(' ')).toContain('--ro-bind /var/lib/agentd/net/x /.agentd/net');
    expect(a.slice(a.indexOf('--'))).toEqual(['--', '/.agentd/init', '--fs-root', '/', '--net-dir', '/.agentd/net', '--proxy-port', '3128']);
    expect(a.join(' ')).toContain('--setenv HTTPS_PROXY http://127.0.0.1:3128');
  });

  test('host name is derived from the id and fits 63 bytes', () => {
    expect(sandboxHostname('abc_1')).toBe('agentd-abc-1');
    expect(sandboxHostname('x'.repeat(100))).toHaveLength(63);
  });
});

describe('planMounts', () => {
  test('deny paths: files get the mask file, directories and missing paths under writable mounts an empty read-only tmpfs', () => {
    const s = spec({ allowedPathsRo: ['/data'], denyPaths: ['/data/secret', '/data/dir', '/workspace/.env', '/data/not-yet', '/nowhere/x'] });
    const plan = planMounts({ spec: s, system, ...files, hostMounts: hm(s), denyKinds: { '/data/secret': 'file', '/data/dir': 'dir' } });
    expect(plan.mounts.slice(-4)).toEqual([
      { op: 'mask-file', source: '/m', target: '/data/secret' },
      { op: 'mask-dir', target: '/data/dir' },
      { op: 'mask-dir', target: '/workspace/.env' },
      { op: 'mask-dir', target: '/nowhere/x' },
    ]);
    // Missing under a read-only bind: no mount point can be made there (nor by the sandbox).
    expect(plan.unmaskable).toEqual(['/data/not-yet']);
    const argv = bwrapArgs({ spec: s, mounts: plan.mounts });
    expect(has(argv, '--perms', '0000', '--tmpfs', '/data/dir', '--remount-ro', '/data/dir')).toBe(true);
  });

  test('paths are validated: absolute, normalised, and never hiding the sandbox own mounts', () => {
    const bad = (over: Partial<SandboxSpec>) => () => planMounts({ spec: spec(over), system, ...files, hostMounts: hm(spec(over)), denyKinds: {} });
    expect(bad({ allowedPathsRo: ['relative'] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(bad({ allowedPathsRw: ['/data/../etc'] })).toThrow(/normalised/);
    expect(bad({ bindMounts: [{ source: '/x', target: '/', readonly: true }] })).toThrow(/hide/);
    expect(bad({ bindMounts: [{ source: '/x', target: '/home', readonly: false }] })).toThrow(/\/home\/agent/);
    expect(bad({ bindMounts: [{ source: '/x', target: '/proc/sys', readonly: false }] })).toThrow(/\/proc/);
    expect(bad({ denyPaths: ['/workspace'] })).toThrow(/cannot be masked/);
    expect(bad({ bindMounts: [{ source: '/srv/data', target: '/workspace/data', readonly: true }] })).not.toThrow();
  });

  test('host paths reach bwrap only as inherited descriptors (--ro-bind-fd/--bind-fd), never as a path bwrap would resolve again', () => {
    const s = spec({ allowedPathsRo: ['/srv/ro'], allowedPathsRw: ['/srv/rw'], bindMounts: [{ source: '/srv/b', target: '/workspace/b', readonly: false }] });
    const argv = bwrapArgs({ spec: s, mounts: planMounts({ spec: s, system, ...files, hostMounts: hm(s), denyKinds: {} }).mounts });
    expect(has(argv, '--ro-bind-fd', '10', '/srv/ro')).toBe(true);
    expect(has(argv, '--bind-fd', '11', '/srv/rw')).toBe(true);
    expect(has(argv, '--bind-fd', '12', '/workspace/b')).toBe(true);
    for (const src of ['/srv/ro', '/srv/rw', '/srv/b']) expect(argv.filter((a, i) => a === src && /^--(ro-)?bind$/.test(argv[i - 1] ?? ''))).toEqual([]);
  });

  test('hostPathOf maps a sandbox path to where it lives on the host', () => {
    const s = spec({ bindMounts: [{ source: '/srv/data', target: '/workspace/data', readonly: true }] });
    const mounts = baseMounts({ spec: s, system, ...files, hostMounts: hm(s) });
    expect(hostPathOf(mounts, '/workspace/a/b')).toBe(`${s.dirs.workspace}/a/b`);
    expect(hostPathOf(mounts, '/workspace/data/x')).toBe('/srv/data/x');
    expect(hostPathOf(mounts, '/etc/ssh')).toBe('/etc/ssh');
    expect(hostPathOf(mounts, '/proc/1')).toBeUndefined();
    expect(hostPathOf(mounts, '/nowhere')).toBeUndefined();
  });
});

describe('launchArgv', () => {
  const base = { initPath: '/i', bwrapPath: '/usr/bin/bwrap', bwrapArgs: ['--x'], cgroupProcs: ['/cg/a/cgroup.procs', '/cg/b/cgroup.procs'], limits: { openFiles: 256 } };

  test('joins every cgroup and sets rlimits before exec-ing bwrap', () => {
    expect(launchArgv(base)).toEqual([
      '/i', '--launch', '--cgroup-procs', '/cg/a/cgroup.procs', '--cgroup-procs', '/cg/b/cgroup.procs',
      '--rlimit', 'core=0', '--rlimit', 'nofile=256', '--', '/usr/bin/bwrap', '--x',
    ]);
  });

  test('a root daemon drops to the sandbox host uid before bwrap', () => {
    const argv = launchArgv({ ...base, dropTo: { uid: 1000000, gid: 1000000 }, dropWith: { kind: 'setpriv', path: '/usr/bin/setpriv' } });
    expect(argv.slice(argv.indexOf('--'))).toEqual(['--', '/usr/bin/setpriv', '--reuid=1000000', '--regid=1000000', '--clear-groups', '--', '/usr/bin/bwrap', '--x']);
    const viaLauncher = launchArgv({ ...base, dropTo: { uid: 7, gid: 8 }, dropWith: { kind: 'launcher' } });
    expect(has(viaLauncher, '--uid', '7', '--gid', '8', '--')).toBe(true);
  });
});
