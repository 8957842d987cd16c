/** The linux-native rule list and launch line, pure (no kernel needed). */
import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { launchArgv } from '../../src/isolation/linux-native/backend.js';
import { parseLinuxNativeOptions } from '../../src/isolation/linux-native/options.js';
import { landlockRules, type Rule } from '../../src/isolation/linux-native/rules.js';
import { specFor } from './fixture.js';

const spec = specFor('/h', 'sbx_1');
const existing = new Set(['/usr', '/lib64', '/etc/passwd', '/etc/ssl/certs', '/dev/null', '/dev/pts']);
const base = { spec, initPath: '/opt/agentd/agentd-init', existing, hostPaths: [], denyPaths: [] };

function thrown(fn: () => unknown): AgentdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentdError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('landlockRules', () => {
  test('system rx, listed /etc ro, own folders rwx, devices, /proc, the init; nothing that does not exist', () => {
    const rules = landlockRules(base);
    const byPath = new Map(rules.map((r) => [r.path, r.access]));
    expect(byPath.get('/usr')).toBe('rx');
    expect(byPath.get('/lib64')).toBe('rx');
    expect(byPath.has('/sbin')).toBe(false);
    expect(byPath.get('/etc/passwd')).toBe('ro');
    expect(byPath.has('/etc')).toBe(false);
    expect(byPath.get('/dev/pts')).toBe('dev');
    expect(byPath.has('/dev/shm')).toBe(false);
    expect(byPath.get('/proc')).toBe('proc');
    expect(byPath.get('/opt/agentd/agentd-init')).toBe('rx');
    for (const d of [spec.dirs.workspace, spec.dirs.home, spec.dirs.tmp]) expect(byPath.get(d)).toBe('rwx');
  });

  test("an /etc entry that is a symlink gives its target the entry's read-only rule, unless covered or in /proc", () => {
    const etcLinks = new Map([
      ['/etc/resolv.conf', '/run/systemd/resolve/stub-resolv.conf'],
      ['/etc/localtime', '/usr/share/zoneinfo/Etc/UTC'],
      ['/etc/mtab', '/proc/mounts'],
    ]);
    const rules = landlockRules({ ...base, etcLinks });
    expect(rules.filter((r) => r.path === '/run/systemd/resolve/stub-resolv.conf').map((r) => r.access)).toEqual(['ro']);
    expect(rules.some((r) => r.path === '/usr/share/zoneinfo/Etc/UTC')).toBe(false);
    expect(rules.some((r) => r.path === '/proc/mounts')).toBe(false);
  });

  test('host paths become descriptor rules in pin order, ro -> rx, rw -> rwx', () => {
    const rules = landlockRules({ ...base, hostPaths: [
      { given: '/data/a', target: '/data/a', readonly: true, what: 'allowed_paths_ro[0]' },
      { given: '/data/b', target: '/data/b', readonly: false, what: 'allowed_paths_rw[0]' },
    ] });
    expect(rules.filter((r): r is Extract<Rule, { pinned: number }> => 'pinned' in r).map((r) => [r.pinned, r.access])).toEqual([[0, 'rx'], [1, 'rwx']]);
  });

  test('a bind mount to another target is refused (rule bind_target)', () => {
    const err = thrown(() => landlockRules({ ...base, hostPaths: [{ given: '/data/a', target: '/workspace/a', readonly: true, what: 'bind_mounts[0].source' }] }));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.details).toMatchObject({ rule: 'bind_target', field: 'bind_mounts[0].source' });
  });

  test('a deny path inside or above an allowed path is refused; one outside every rule is accepted', () => {
    expect(thrown(() => landlockRules({ ...base, denyPaths: [`${spec.dirs.workspace}/secret`] })).details.rule).toBe('deny_paths');
    expect(thrown(() => landlockRules({ ...base, denyPaths: ['/h'] })).details.rule).toBe('deny_paths');
    expect(() => landlockRules({ ...base, denyPaths: ['/var/lib', '/etc/shadow'] })).not.toThrow();
  });
});

describe('launchArgv', () => {
  test('cgroup, rlimits, uid drop, rules (pinned paths from fd 4), network, seccomp on fd 3, then the init', () => {
    const argv = launchArgv({
      initPath: '/i', spec: { ...spec, limits: { openFiles: 100 } }, cgroupProcs: ['/sys/fs/cgroup/pids/agentd/x/cgroup.procs'], ids: { uid: 1000001, gid: 1000001 },
      rules: [{ path: '/usr', access: 'rx', why: '' }, { pinned: 0, path: '/d', access: 'rwx', why: '' }],
    });
    expect(argv).toEqual([
      '/i', '--launch', '--cgroup-procs', '/sys/fs/cgroup/pids/agentd/x/cgroup.procs', '--rlimit', 'core=0', '--rlimit', 'nofile=100',
      '--uid', '1000001', '--gid', '1000001', '--landlock', '/usr=rx', '--landlock-fd', '4=rwx', '--landlock-net', 'none', '--seccomp-fd', '3',
      '--', '/i', '--fs-root', '/', '--subreaper',
    ]);
    expect(launchArgv({ initPath: '/i', spec: { ...spec, network: 'host' }, cgroupProcs: [], ids: undefined, rules: [] })).toContain('host');
  });
});

describe('options', () => {
  test('unknown keys and bad ranges are INVALID_CONFIG naming the key', () => {
    expect(thrown(() => parseLinuxNativeOptions({ bwrap_path: '/x' })).code).toBe('INVALID_CONFIG');
    const err = thrown(() => parseLinuxNativeOptions({ host_uid_range: { start: 0, count: 10 } }));
    expect(err.message).toContain('isolation.backends.linux-native.host_uid_range.start');
    expect(parseLinuxNativeOptions({ cgroup_parent: 'x' })).toEqual({ cgroup_parent: 'x' });
  });
});
