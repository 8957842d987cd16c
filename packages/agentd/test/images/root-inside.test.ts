/**
 * Root inside a sandbox with an image is not host root. Each attempt below runs as `user:
 * root` (uid 0 in the sandbox's user namespace, mapped to an unprivileged host uid) and must
 * fail with the errno of the mechanism that stops it: the seccomp filter (EPERM for mount,
 * module loading, ptrace, new user namespaces), the capability set (no CAP_MKNOD,
 * CAP_SYS_ADMIN...), the uid map (EINVAL for an unmapped uid), file ownership (the host's
 * files are not mapped: EACCES), read-only mounts (EROFS).
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { linkCachedImages, TEST_IMAGE } from './helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('root-inside tests skipped: images need a root daemon');

const PROBE = String.raw`
import ctypes, errno, json, os, stat
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def sys(name, nr, *args):
    r = libc.syscall(nr, *args)
    out[name] = 'ok' if r >= 0 else errno.errorcode[ctypes.get_errno()]
def py(name, fn):
    try:
        fn(); out[name] = 'ok'
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
def write(path):
    with open(path, 'w') as f: f.write('x')
def read(path):
    with open(path, 'rb') as f: f.read(16)
out['uid'] = os.getuid()
out['cap_eff'] = [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]
sys('mount', 165, b'none', b'/mnt', b'tmpfs', 0, None)
sys('finit_module', 313, 0, b'', 0)
sys('init_module', 175, None, 0, b'')
sys('ptrace_attach_init', 101, 16, 1, 0, 0)
sys('unshare_user', 272, 0x10000000)
sys('setns', 308, 0, 0)
py('mknod_disk', lambda: os.mknod('/tmp/disk', stat.S_IFBLK | 0o600, os.makedev(8, 0)))
py('read_kcore', lambda: read('/proc/kcore'))
py('write_sysctl', lambda: write('/proc/sys/kernel/hostname'))
py('write_core_pattern', lambda: write('/proc/sys/kernel/core_pattern'))
py('write_init_binary', lambda: write('/.agentd/init'))
py('setuid_unmapped', lambda: os.setuid(12345))
py('open_init_mem', lambda: read('/proc/1/mem'))
print(json.dumps(out))
`;

describe.skipIf(!isRoot)('root inside a sandbox with an image', () => {
  let d: TestDaemon;
  let id: string;

  beforeAll(async () => {
    d = await startTestDaemon();
    await linkCachedImages(d.home);
    const c = await d.call('POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } });
    expect(c.status, c.text).toBe(201);
    id = c.body.id as string;
  }, 900_000);
  afterAll(async () => {
    await d?.close();
  });

  if (!existsSync('/proc/kcore')) console.warn('this kernel has no /proc/kcore: the kcore attempt can only find it missing (ENOENT)');

  it('cannot mount, load modules, ptrace the init, make devices, read kcore or leave its uid map', async () => {
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['python3', '-c', PROBE], user: 'root' } });
    expect(r.status, r.text).toBe(200);
    expect(r.body.exit_code, r.body.stderr).toBe(0);
    const out = JSON.parse(r.body.stdout) as Record<string, string | number>;
    expect(out.uid).toBe(0);
    const eff = BigInt(`0x${String(out.cap_eff)}`);
    // CAP_SYS_ADMIN 21, CAP_SYS_MODULE 16, CAP_SYS_PTRACE 19, CAP_MKNOD 27, CAP_SYS_RAWIO 17, CAP_NET_ADMIN 12: none.
    for (const bit of [21n, 16n, 19n, 27n, 17n, 12n]) expect((eff >> bit) & 1n, `capability bit ${bit}`).toBe(0n);
    // CAP_CHOWN 0 and CAP_DAC_OVERRIDE 1: yes (root inside can administer its own layer).
    expect(eff & 3n).toBe(3n);
    expect(out).toMatchObject({
      mount: 'EPERM', // seccomp
      finit_module: 'EPERM', // seccomp
      init_module: 'EPERM', // seccomp
      ptrace_attach_init: 'EPERM', // seccomp (and the init is not dumpable)
      unshare_user: 'EPERM', // seccomp: no new user namespace, so no fuller capability set
      setns: 'EPERM', // seccomp
      mknod_disk: 'EPERM', // no CAP_MKNOD
      // host root's file: not mapped inside, no override (a kernel built without /proc/kcore has none to read)
      read_kcore: existsSync('/proc/kcore') ? 'EACCES' : 'ENOENT',
      write_sysctl: 'EACCES', // owned by the host's root
      write_core_pattern: 'EACCES', // the classic escape (a core handler run by the host's root): refused
      write_init_binary: 'EROFS', // the init is bound read-only
      setuid_unmapped: 'EINVAL', // only uids 0 and 1000 exist inside
      open_init_mem: 'EACCES', // not dumpable, no CAP_SYS_PTRACE
    });
  }, 120_000);

  it("cannot see or reach the host's files: / is the image, and the host's disk has no device inside", async () => {
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'test -e /usr/bin/bwrap && echo host-usr; ls /dev; cat /proc/self/uid_map', user: 'root' } });
    expect(r.body.exit_code).toBe(0);
    expect(r.body.stdout).not.toContain('host-usr');
    expect(r.body.stdout).not.toMatch(/\b(sd[a-z]|vd[a-z]|nvme\d|loop\d)\b/);
    const map = (r.body.stdout as string).trim().split('\n').slice(-2).map((l) => l.trim().split(/\s+/).map(Number));
    expect(map[0]?.[0]).toBe(0);
    expect(map[0]?.[1]).toBeGreaterThan(0);
    expect(map[1]?.[0]).toBe(1000);
    expect(map[1]?.[1]).toBeGreaterThan(0);
  }, 60_000);
});
