/**
 * Lifecycle of namespace sandboxes: a dead init is reported dead, destroy is idempotent
 * and complete, a SIGKILLed daemon leaves nothing running (and its cgroups are reclaimed
 * by the next one), snapshots round-trip exactly, and an unprivileged user can use it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { CgroupDriver } from '../../src/isolation/cgroup/index.js';
import { NamespaceBackend } from '../../src/isolation/namespace/index.js';
import { silentLogger } from '../../src/util/logger.js';
import { sandboxDirs } from '../../src/isolation/dirs.js';
import { createSnapshot, forkFromSnapshot, restoreSnapshot } from '../../src/isolation/snapshot/index.js';
import { buildDaemonSources } from './child-build.js';
import { harness, isRoot, native, noteSkip, run, sh, skipReason, type Harness } from './fixture.js';

const HOLDER = fileURLToPath(new URL('./fixtures/holder.mjs', import.meta.url));

/** A zombie has exited: it holds nothing but its pid (this machine's PID 1 reaps orphaned zombies late). */
async function isRunning(pid: number | string): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) Z /s.test(stat);
}

/** Live host pids whose cgroup (any hierarchy) names one of `ids`. */
async function pidsInCgroupsOf(ids: string[]): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || !(await isRunning(name))) continue;
    const text = await readFile(`/proc/${name}/cgroup`, 'utf8').catch(() => '');
    if (ids.some((id) => text.includes(`/${id}\n`) || text.endsWith(`/${id}`))) found.push(Number(name));
  }
  return found;
}

async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** What fixtures/holder.mjs prints in 'check' mode. */
interface CheckResult {
  uid: number;
  userNamespace: { ok: boolean; detail?: string };
  memoryLimit: { ok: boolean; detail?: string };
  id: { out: string };
  write: { out: string };
  unshare: { out: string };
  restart: { out: string };
  limit: { code?: string; message?: string; started?: boolean };
}

describe.skipIf(noteSkip('lifecycle', skipReason))('namespace sandbox: lifecycle', () => {
  let h: Harness;
  let built: string | undefined;

  beforeAll(async () => {
    h = await harness();
  });

  afterAll(async () => {
    await h?.close();
    if (built) await rm(built, { recursive: true, force: true });
  });

  test('background processes survive between execs; the init is PID 1', async () => {
    const sbx = await h.start();
    await sh(sbx, 'sleep 300 >/dev/null 2>&1 & echo $! > /tmp/bg.pid');
    const r = await sh(sbx, 'kill -0 $(cat /tmp/bg.pid) && echo alive; echo $PPID');
    expect(r.out.split('\n')[0]).toBe('alive');
    expect((await sbx.channel.ready).pid).toBe(1);
  });

  test('a sandbox whose init dies is reported dead, not hung, and can still be destroyed', async () => {
    const sbx = await h.start();
    const cg = await new CgroupDriver().attach(sbx.id);
    expect(cg).toBeDefined();
    // Kill the sandbox's PID 1 from the host (the sandbox itself cannot: it is its pid namespace's init).
    let initPid: number | undefined;
    for (const pid of await cg!.pids()) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd === '/.agentd/init\0--fs-root\0/\0') initPid = pid;
    }
    expect(initPid).toBeDefined();
    process.kill(initPid as number, 'SIGKILL');
    const exit = await Promise.race([sbx.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000))]);
    expect(exit).not.toBe('hung');
    expect(sbx.isAlive()).toBe(false);
    await expect(run(sbx, ['true'])).rejects.toMatchObject({ code: 'SANDBOX_DEAD' });
    await sbx.destroy();
    expect(await new CgroupDriver().attach(sbx.id)).toBeUndefined();
  });

  test('destroy is idempotent, kills everything, removes the cgroup and the folders (or keeps them if asked)', async () => {
    const sbx = await h.start();
    await sh(sbx, 'sleep 300 >/dev/null 2>&1 & echo x > /workspace/kept');
    const before = await pidsInCgroupsOf([sbx.id]);
    expect(before.length).toBeGreaterThan(1);
    await Promise.all([sbx.destroy({ keepFiles: true }), sbx.destroy({ keepFiles: true })]);
    await sbx.destroy();
    expect(await pidsInCgroupsOf([sbx.id])).toEqual([]);
    for (const pid of before) {
      const st = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => 'gone');
      expect(`${pid}: ${st.split('\n').slice(0, 3).join(' ')}`).toBe(`${pid}: gone`);
    }
    expect(await new CgroupDriver().attach(sbx.id)).toBeUndefined();
    expect(await readFile(join(sbx.spec.dirs.workspace, 'kept'), 'utf8')).toBe('x\n');

    // A stopped sandbox restarts on its kept folders.
    const restarted = await h.start({ id: sbx.id });
    expect((await sh(restarted, 'cat /workspace/kept')).out).toBe('x');
    await restarted.destroy();

    const gone = await h.start();
    await gone.destroy();
    expect(existsSync(gone.spec.dirs.root)).toBe(false);
  });

  test('snapshot, restore and fork round-trip the files exactly', async () => {
    const sbx = await h.start();
    const script = [
      'mkdir -p /workspace/d/e && printf "a\\0b\\377" > /workspace/d/e/bin',
      'echo text > /workspace/t.txt && chmod 640 /workspace/t.txt',
      'ln -s d/e/bin /workspace/link',
      'echo home > /home/agent/.rc && echo tmp > /tmp/x',
    ].join(' && ');
    expect((await sh(sbx, script)).code).toBe(0);
    const listing = 'cd / && find workspace home/agent tmp -printf "%p %y %m %s %l\\n" | sort && sha256sum workspace/d/e/bin workspace/t.txt home/agent/.rc tmp/x';
    const original = (await sh(sbx, listing)).out;

    const snaps = await mkdtemp(join(tmpdir(), 'agentd-ns-snaps-'));
    try {
      await sbx.suspend();
      const snap = await createSnapshot(sbx.spec.dirs, snaps, 'snap1', { sandboxId: sbx.id });
      await sbx.resume();

      await sh(sbx, 'rm -rf /workspace/d && echo changed > /workspace/t.txt && echo new > /workspace/new');
      expect((await sh(sbx, listing)).out).not.toBe(original);
      await sbx.suspend();
      await restoreSnapshot(snap.dir, sbx.spec.dirs);
      await sbx.resume();
      expect((await sh(sbx, listing)).out).toBe(original);
      // Still writable by the sandbox after a restore.
      expect((await sh(sbx, 'echo again > /workspace/t.txt && cat /workspace/t.txt')).out).toBe('again');

      const forkId = `fork-${process.pid}`;
      await forkFromSnapshot(snap.dir, sandboxDirs(h.home, forkId));
      const forked = await h.start({ id: forkId });
      expect((await sh(forked, listing)).out).toBe(original);
    } finally {
      await rm(snaps, { recursive: true, force: true });
    }
  });

  test('after the daemon process is SIGKILLed no sandbox process remains; the next daemon reclaims the cgroups', async () => {
    built ??= await buildDaemonSources();
    const parent = `agentd-test-${process.pid}-holder`;
    const child = spawn(process.execPath, [HOLDER, built, h.home, 'hold', '2'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AGENTD_INIT_PATH: native.init, AGENTD_SECCOMP_BPF: native.seccompBpf, AGENTD_CGROUP_PARENT: parent },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const driver = new CgroupDriver({ parent });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`holder exited early (${code})`)));
      });
      const { ids } = JSON.parse(line) as { ids: string[] };
      expect(ids).toHaveLength(2);
      const before = await pidsInCgroupsOf(ids);
      // Per sandbox: setpriv/bwrap, agentd-init, sleep.
      expect(before.length).toBeGreaterThanOrEqual(4);

      child.kill('SIGKILL');
      expect(await waitFor(async () => (await pidsInCgroupsOf(ids)).length === 0, 5000)).toBe(true);
      for (const pid of before) expect(await isRunning(pid)).toBe(false);

      // The dead daemon could not remove its cgroups; the next one does, before anything else.
      for (const id of ids) expect(await driver.attach(id)).toBeDefined();
      const next = new NamespaceBackend(native.init, silentLogger, { cgroup_parent: parent });
      const removed = await next.cleanupOrphans([]);
      expect(removed).toEqual(expect.arrayContaining(ids));
      for (const id of ids) expect(await driver.attach(id)).toBeUndefined();
    } finally {
      child.kill('SIGKILL');
      await driver.cleanupOrphans([]).catch(() => undefined);
      await driver.removeParent().catch(() => undefined);
    }
  }, 90_000);

  const setpriv = spawnSync('setpriv', ['--version']).status === 0;
  test.skipIf(noteSkip('unprivileged user test', !isRoot ? 'needs root to switch to an unprivileged user' : !setpriv ? 'setpriv (util-linux) missing' : undefined))(
    'works as an unprivileged user (nobody): user namespaces, no cgroup, so limits are refused (LIMIT_UNSUPPORTED)',
    async () => {
      built ??= await buildDaemonSources();
      const home = await mkdtemp(join(tmpdir(), 'agentd-ns-nobody-'));
      try {
        await chmod(home, 0o777);
        await chmod(built, 0o755);
        const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, HOLDER, built, home, 'check'], {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AGENTD_INIT_PATH: native.init, AGENTD_SECCOMP_BPF: native.seccompBpf },
          encoding: 'utf8',
          timeout: 20_000,
        });
        expect(r.stderr).toBe('');
        const res = JSON.parse(r.stdout) as CheckResult;
        expect(res.uid).toBe(65534);
        expect(res.userNamespace.ok).toBe(true);
        expect(res.id.out).toBe('agent\n1000');
        expect(res.write.out).toMatch(/^hi\n.*Read-only file system$/);
        expect(res.unshare.out).toMatch(/Operation not permitted\n1$/);
        expect(res.restart.out).toBe('hi');
        expect(res.memoryLimit.ok).toBe(false);
        expect(res.limit.code).toBe('LIMIT_UNSUPPORTED');
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    },
    90_000,
  );

  test('a start that cannot succeed fails with a clear error and leaves no cgroup behind', async () => {
    const id = `bad-${process.pid}`;
    await expect(h.start({ id, bindMounts: [{ source: '/nonexistent/agentd', target: '/data', readonly: true }] })).rejects.toBeInstanceOf(AgentdError);
    expect(await new CgroupDriver().attach(id)).toBeUndefined();
    await expect(h.start({ id: `net-${process.pid}`, network: 'allowlist' })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await expect(h.start({ id: `host-${process.pid}`, network: 'host', profile: 'server' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
