/**
 * The oci backends (runc, crun) and gvisor (runsc) through a real daemon: start, exec, files,
 * limits, suspend/resume, images with root inside, destroy leaving nothing behind, and the
 * refusals of what a runtime cannot do. Each backend runs only where its probe says it is
 * available here (else the skip says why). Recovery after a SIGKILLed daemon: recovery.test.ts.
 */
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinRegistry } from '../../src/isolation/builtins.js';
import { nativePaths } from '../../src/native-paths.js';
import { silentLogger } from '../../src/util/logger.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { linkCachedImages, TEST_IMAGE } from '../images/helpers.js';

const isRoot = process.getuid?.() === 0;
const registry = createBuiltinRegistry();
const probes = await registry.probeAll({ initPath: nativePaths().init, logger: silentLogger });
const RUNTIME: Record<string, string> = { 'oci-runc': 'runc', 'oci-crun': 'crun', gvisor: 'runsc' };

function availability(name: string): string | undefined {
  if (!isRoot) return 'needs a root daemon';
  const p = probes.find((x) => x.backend === name);
  return p?.available === true ? undefined : `not available here: ${p?.reason ?? 'not probed'}`;
}

/** Raw syscalls from python3 (the host's, bound read-only): each answer is 'ok' or the errno name. */
const ATTACKS = String.raw`
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def sys(name, nr, *args):
    r = libc.syscall(nr, *args)
    out[name] = 'ok' if r >= 0 else errno.errorcode[ctypes.get_errno()]
sys('ptrace_attach_init', 101, 16, 1, 0, 0)
sys('unshare_user', 272, 0x10000000)
sys('mount', 165, b'none', b'/mnt', b'tmpfs', 0, None)
sys('setns', 308, 0, 0)
sys('bpf', 321, 0, 0, 0)
out['uid'] = os.getuid()
print(json.dumps(out))
`;

for (const backend of ['oci-runc', 'oci-crun', 'gvisor']) {
  const why = availability(backend);
  if (why !== undefined) console.warn(`${backend} tests skipped: ${why}`);
  const gvisor = backend === 'gvisor';

  describe.skipIf(why !== undefined)(`backend ${backend}`, () => {
    let d: TestDaemon;
    const parent = `agentd-test-${process.pid}-${backend}`;
    const stateRoot = (): string => join(d.home, 'oci', RUNTIME[backend] ?? '');
    const containers = (): string[] => {
      if (!existsSync(stateRoot())) return [];
      const rt = RUNTIME[backend] ?? '';
      const wrap = rt === 'crun' ? ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"'] : [];
      const argv = [...wrap, rt, '--root', stateRoot(), 'list', rt === 'runsc' ? '-quiet' : '-q'];
      return execFileSync(argv[0] as string, argv.slice(1), { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).toString().split('\n').filter(Boolean);
    };
    const create = async (body: Record<string, unknown> = {}): Promise<string> => {
      const c = await d.call('POST', '/v1/sandboxes', { body });
      expect(c.status, c.text).toBe(201);
      return c.body.id as string;
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are free-form JSON, checked by expect()
    const exec = async (id: string, command: string, extra: Record<string, unknown> = {}): Promise<any> => (await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command, ...extra } })).body as unknown;

    beforeAll(async () => {
      d = await startTestDaemon({ isolation: { backend, backends: { [backend]: { cgroup_parent: parent } } }, ...(gvisor ? { sandbox: { limits: { pids: 0, disk_bytes: 0, memory_bytes: 0 } } } : {}) });
      await linkCachedImages(d.home);
    }, 900_000);
    afterAll(async () => d?.close());

    it('runs commands as the sandbox user, under the seccomp filter, with no capabilities', async () => {
      const id = await create();
      // gVisor's /proc/self/status has no NoNewPrivs line: asked of the kernel as well (PR_GET_NO_NEW_PRIVS).
      const r = await exec(id, 'id -u; grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status; python3 -c "import ctypes; print(\\"NoNewPrivs: %d\\" % ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))" | grep -v "^$"; echo err >&2; exit 7');
      expect(r.exit_code).toBe(7);
      expect(r.stderr).toBe('err\n');
      const [uid, ...status] = (r.stdout as string).trim().split('\n');
      expect(Number(uid)).toBe(gvisor ? Number(uid) : 1000);
      expect(status.join(' ')).toMatch(/Seccomp:\s+2/);
      expect(status.join(' ')).toMatch(/NoNewPrivs:\s+1/);
      expect(status.join(' ')).toMatch(/CapEff:\s+0+\b/);
      // The attacks the filter refuses (EPERM from the filter, as under the namespace backend).
      const a = JSON.parse((await exec(id, `python3 -c '${ATTACKS.replace(/'/g, "'\\''")}'`)).stdout as string) as Record<string, string>;
      expect(a).toMatchObject({ ptrace_attach_init: 'EPERM', unshare_user: 'EPERM', mount: 'EPERM', setns: 'EPERM', bpf: 'EPERM' });
      // The sandbox sees only its own processes.
      const ps = (await exec(id, 'ls /proc | grep -E "^[0-9]+$" | wc -l')).stdout as string;
      expect(Number(ps.trim())).toBeLessThan(12);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
    }, 120_000);

    it('reads and writes files through the init, confined to the sandbox', async () => {
      const id = await create();
      const put = await d.call('PUT', `/v1/sandboxes/${id}/files?path=/workspace/a.txt`, { raw: Buffer.from('hello oci\n'), contentType: 'application/octet-stream' });
      expect(put.status, put.text).toBeLessThan(300);
      expect((await exec(id, 'cat /workspace/a.txt')).stdout).toBe('hello oci\n');
      await exec(id, 'echo from-cmd > /workspace/b.txt');
      const get = await d.call('GET', `/v1/sandboxes/${id}/files?path=/workspace/b.txt`);
      expect(get.bytes.toString()).toBe('from-cmd\n');
      // The host's system folders are read-only, the top of the tree too.
      const ro = await exec(id, 'touch /usr/x 2>&1; touch /x 2>&1; true');
      expect(ro.stdout).toMatch(/Read-only file system|Permission denied/);
      expect(ro.stdout).not.toMatch(/^$/);
      // network 'none': nothing but loopback.
      const net = await exec(id, 'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "');
      expect((net.stdout as string).trim().split('\n').filter(Boolean).every((n) => n === 'lo')).toBe(true);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
    }, 120_000);

    // Each limit test is defined only where it applies: gvisor refuses both (its own test below).
    const limitIt = gvisor ? () => undefined : it;
    const gvisorIt = gvisor ? it : () => undefined;

    limitIt('enforces the memory limit (the OOM killer stops the command)', async () => {
      const id = await create({ limits: { memory_bytes: 64 << 20 } });
      const r = await exec(id, `python3 -c 'b = bytearray(400 << 20); print(len(b))'`);
      expect(r.exit_code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
    }, 120_000);

    limitIt('enforces the process limit', async () => {
      const id = await create({ limits: { pids: 16 } });
      const r = await exec(id, 'for i in $(seq 40); do sleep 5 & done 2>&1; wait; echo done', { timeout_ms: 20_000 });
      expect(r.stdout).toMatch(/fork|Resource temporarily unavailable|Cannot fork/i);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
    }, 120_000);

    it('suspends and resumes (the cgroup freezer)', async () => {
      const id = await create();
      expect((await d.call('POST', `/v1/sandboxes/${id}/suspend`)).status).toBeLessThan(300);
      const frozen = readFileSync(`/sys/fs/cgroup/freezer/${parent}/${id}/freezer.state`, 'utf8').trim();
      expect(frozen).toBe('FROZEN');
      const refused = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'true' } });
      expect(refused.body.error?.code).toBe('SANDBOX_SUSPENDED');
      expect((await d.call('POST', `/v1/sandboxes/${id}/resume`)).status).toBeLessThan(300);
      expect((await exec(id, 'echo back')).stdout).toBe('back\n');
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
    }, 120_000);

    it('destroy leaves no container, no cgroup and no mount behind', async () => {
      const id = await create();
      expect(containers()).toContain(id);
      expect(existsSync(`/sys/fs/cgroup/memory/${parent}/${id}`)).toBe(true);
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
      expect(containers()).not.toContain(id);
      for (const c of ['memory', 'pids', 'cpu', 'freezer']) expect(existsSync(`/sys/fs/cgroup/${c}/${parent}/${id}`)).toBe(false);
      expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(id))).toEqual([]);
      expect(existsSync(join(d.home, 'sandboxes', id))).toBe(false);
    }, 120_000);

    it('runs an image: its python with pytest, root inside mapped to an unprivileged host uid', async () => {
      const id = await create({ image: TEST_IMAGE });
      const agent = await exec(id, `python3 -c 'import pytest, os; print(os.getuid())'`);
      expect(agent.stdout, agent.stderr as string).toBe('1000\n');
      const root = await exec(id, 'id -u; echo x > /etc/agentd-oci && cat /etc/agentd-oci; cat /proc/self/uid_map | head -1', { user: 'root' });
      const [uid, x, map] = (root.stdout as string).trim().split('\n');
      expect(uid).toBe('0');
      expect(x).toBe('x');
      // uid 0 inside is a host uid of the sandbox's own, never host root: seen in the user
      // namespace (runc, crun), or (gVisor, whose kernel shows its own map) on the host, as
      // the owner of what root wrote in the sandbox's layer.
      if (gvisor) {
        const written = execFileSync('find', [join(d.home, 'sandboxes', id), '-path', '*/layer/upper/etc/agentd-oci', '-printf', '%U']).toString();
        expect(Number(written)).toBeGreaterThan(0);
        expect(Number(written)).not.toBe(65534);
      } else {
        expect(Number(map?.trim().split(/\s+/)[1])).toBeGreaterThan(0);
      }
      // The agent user cannot write root's files.
      expect((await exec(id, 'echo y > /etc/agentd-oci')).exit_code).not.toBe(0);
      // The file API acts as the agent user (--fs-uid: under gVisor, with effective ids around each operation).
      const put = await d.call('PUT', `/v1/sandboxes/${id}/files?path=/home/agent/api.txt`, { raw: Buffer.from('api\n'), contentType: 'application/octet-stream' });
      expect(put.status, put.text).toBeLessThan(300);
      expect((await exec(id, `python3 -c 'import os; print(os.stat("/home/agent/api.txt").st_uid)'`)).stdout).toBe('1000\n');
      const shadow = await d.call('GET', `/v1/sandboxes/${id}/files?path=/etc/shadow`);
      expect(shadow.status).toBeGreaterThanOrEqual(400);
      const rootPut = await d.call('PUT', `/v1/sandboxes/${id}/files?path=/etc/agentd-api`, { raw: Buffer.from('x'), contentType: 'application/octet-stream' });
      expect(rootPut.status).toBeGreaterThanOrEqual(400);
      // Commands still run as root after file operations (the init gave the ids back).
      expect((await exec(id, 'id -u', { user: 'root' })).stdout).toBe('0\n');
      // Root inside is still under the filter.
      const a = JSON.parse((await exec(id, `python3 -c '${ATTACKS.replace(/'/g, "'\\''")}'`, { user: 'root' })).stdout as string) as Record<string, string>;
      expect(a).toMatchObject({ uid: 0, mount: 'EPERM', unshare_user: 'EPERM', setns: 'EPERM' });
      expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
      expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(id))).toEqual([]);
    }, 300_000);

    gvisorIt('refuses what gVisor cannot do, with a clear code', async () => {
      const pids = await d.call('POST', '/v1/sandboxes', { body: { limits: { pids: 10 } } });
      expect(pids.body.error?.code, pids.text).toBe('LIMIT_UNSUPPORTED');
      // Past a cgroup limit the host would kill the whole Sentry, not the command.
      const mem = await d.call('POST', '/v1/sandboxes', { body: { limits: { memory_bytes: 64 << 20 } } });
      expect(mem.body.error?.code, mem.text).toBe('LIMIT_UNSUPPORTED');
      const net = await d.call('POST', '/v1/sandboxes', { body: { network: 'host' } });
      expect(net.status, net.text).toBeGreaterThanOrEqual(400);
    }, 60_000);
  });
}
