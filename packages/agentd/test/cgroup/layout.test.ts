import { describe, expect, test } from 'vitest';
import { layoutFromMountinfo, layoutVersion, parseProcCgroup } from '../../src/isolation/cgroup/index.js';

const HYBRID = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const PURE_V2 = `25 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const COMOUNTED_V1 = `28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory
`;

describe('cgroup layout detection from mountinfo', () => {
  test('hybrid: v1 controllers on their own mounts plus a controller-less cgroup2', () => {
    const layout = layoutFromMountinfo(HYBRID);
    expect(layout).toEqual({
      v1: { cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct', memory: '/sys/fs/cgroup/memory', freezer: '/sys/fs/cgroup/freezer', pids: '/sys/fs/cgroup/pids' },
      unified: '/sys/fs/cgroup/unified',
    });
    expect(layoutVersion(layout)).toBe('hybrid');
  });

  test('pure v2: one cgroup2 mount at the root, optional fields before the separator', () => {
    const layout = layoutFromMountinfo(PURE_V2);
    expect(layout).toEqual({ v1: {}, unified: '/sys/fs/cgroup' });
    expect(layoutVersion(layout)).toBe(2);
  });

  test('v1 only, with cpu and cpuacct comounted at one path', () => {
    const layout = layoutFromMountinfo(COMOUNTED_V1);
    expect(layout.v1.cpu).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layout.v1.cpuacct).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layoutVersion(layout)).toBe(1);
  });

  test('mounts outside the root are ignored; escaped spaces are decoded', () => {
    const text = '50 1 0:40 / /elsewhere/cg rw - cgroup2 cgroup2 rw\n51 1 0:41 / /tmp/my\\040root rw - cgroup2 cgroup2 rw\n';
    expect(layoutVersion(layoutFromMountinfo(text))).toBe('none');
    expect(layoutFromMountinfo(text, '/tmp/my root').unified).toBe('/tmp/my root');
  });

  test('/proc/self/cgroup: v1 controllers by name and the v2 path under ""', () => {
    const paths = parseProcCgroup('4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/user.slice\n');
    expect(paths.get('memory')).toBe('/process_api/abc');
    expect(paths.get('cpuacct')).toBe('/');
    expect(paths.get('')).toBe('/user.slice');
  });
});
