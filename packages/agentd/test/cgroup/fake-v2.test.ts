/**
 * The cgroup v2 code paths, checked against a fake cgroup2 tree in a temp directory (this
 * host cannot enable v2 controllers). The test plays the kernel: it lays out the interface
 * files a real cgroupfs would show and flips cgroup.events / cgroup.procs when asked.
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { CgroupDriver } from '../../src/isolation/cgroup/index.js';
import { sleep } from './helpers.js';

const MiB = 1024 * 1024;

async function files(dir: string, entries: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(entries)) await writeFile(join(dir, name), text);
}

const read = (file: string): Promise<string> => readFile(file, 'utf8');

/** Waits (up to 5 s, so a loaded machine does not fail the test) until `file` holds `text`. */
async function until(file: string, text: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await read(file)) !== text) {
    if (Date.now() > deadline) throw new Error(`${file} never became '${text}'`);
    await sleep(5);
  }
}

describe('cgroup v2 (fake tree)', () => {
  let tmp: string;
  let root: string;
  let driver: CgroupDriver;

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'agentd-fake-cg2-'));
    root = join(tmp, 'cgroup');
    await writeFile(join(tmp, 'mountinfo'), `25 21 0:22 / ${root} rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n`);
    await writeFile(join(tmp, 'proc-cgroup'), '0::/init.scope\n');
    await files(root, { 'cgroup.controllers': 'cpuset cpu io memory pids\n', 'cgroup.subtree_control': 'cpuset memory pids\n', 'cgroup.procs': '1\n' });
    await files(join(root, 'agentd'), {
      'cgroup.controllers': 'cpuset memory pids\n', 'cgroup.subtree_control': 'memory pids cpu\n',
      'cgroup.freeze': '0\n', 'cgroup.kill': '', 'cgroup.procs': '', 'cpu.stat': 'usage_usec 0\n',
    });
    driver = new CgroupDriver({ root, mountinfoPath: join(tmp, 'mountinfo'), procCgroupPath: join(tmp, 'proc-cgroup') });
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** What the kernel shows in a new child group with memory, pids and cpu enabled. */
  const sandboxFiles = (dir: string): Promise<void> =>
    files(dir, {
      'cgroup.procs': '', 'cgroup.events': 'populated 0\nfrozen 0\n', 'cgroup.freeze': '0\n', 'cgroup.kill': '',
      'cgroup.controllers': 'memory pids cpu\n',
      'memory.max': 'max\n', 'memory.swap.max': 'max\n', 'memory.current': '1048576\n', 'memory.peak': '2097152\n',
      'memory.events': 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n',
      'pids.max': 'max\n', 'pids.current': '3\n', 'cpu.max': 'max 100000\n',
      'cpu.stat': 'usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n',
    });

  test('probe: version 2, controllers from cgroup.controllers, core freeze and kill', async () => {
    const probe = await driver.probe();
    expect(probe.version).toBe(2);
    for (const c of ['memory', 'pids', 'cpu', 'freezer'] as const) expect(probe.controllers[c]).toEqual({ ok: true, detail: `cgroup v2 at ${root}` });
    expect(probe.kill.ok).toBe(true);
    expect(probe.self['']).toBe('/init.scope');
  });

  test('a controller the kernel does not offer is reported with the reason, and its limit is refused', async () => {
    await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory\n');
    const probe = await driver.probe();
    expect(probe.controllers.pids.ok).toBe(false);
    expect(probe.controllers.pids.detail).toContain(`controller 'pids'`);
    const err = await driver.create('sbx-1', { memoryBytes: 32 * MiB, pids: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('LIMIT_UNSUPPORTED');
    expect((err as AgentdError).message).toContain('pids=10');
    expect((err as AgentdError).details.limits).toEqual(['pids']);
  });

  test('create writes memory.max, memory.swap.max=0, pids.max and cpu.max, enabling only missing controllers', async () => {
    const dir = join(root, 'agentd', 'sbx-1');
    await sandboxFiles(dir);
    const group = await driver.create('sbx-1', { memoryBytes: 32 * MiB, pids: 20, cpus: 0.2 });
    expect(group.procsFiles).toEqual([join(dir, 'cgroup.procs')]);
    expect(await read(join(dir, 'memory.max'))).toBe(String(32 * MiB));
    expect(await read(join(dir, 'memory.swap.max'))).toBe('0');
    expect(await read(join(dir, 'pids.max'))).toBe('20');
    expect(await read(join(dir, 'cpu.max'))).toBe('20000 100000');
    // The root lacked cpu, so "+cpu" was written there; the parent already had all three.
    expect(await read(join(root, 'cgroup.subtree_control'))).toBe('+cpu');
    expect(await read(join(root, 'agentd', 'cgroup.subtree_control'))).toBe('memory pids cpu\n');
  });

  test('a controller that cannot be delegated down to the sandbox groups is LIMIT_UNSUPPORTED, not ignored', async () => {
    await sandboxFiles(join(root, 'agentd', 'sbx-1'));
    // The root's subtree_control cannot be written (a dangling symlink stands in for the kernel's refusal).
    await rm(join(root, 'cgroup.subtree_control'));
    await symlink(join(tmp, 'nowhere', 'subtree_control'), join(root, 'cgroup.subtree_control'));
    const err = (await driver.create('sbx-1', { cpus: 0.5 }).catch((e: unknown) => e)) as AgentdError;
    expect(err.code).toBe('LIMIT_UNSUPPORTED');
    expect(err.message).toContain('cpus=0.5: cannot delegate the cpu controller');
    expect(err.details.limits).toEqual(['cpus']);
    // Without limits the group is still made; it just lacks the controllers it could not get.
    const group = await driver.create('sbx-1');
    expect(group.paths.memory).toBeUndefined();
    expect(group.paths.freezer).toEqual({ version: 2, dir: join(root, 'agentd', 'sbx-1') });
  });

  test('usage reads memory.current, memory.peak, memory.events, cpu.stat and pids.current', async () => {
    await sandboxFiles(join(root, 'agentd', 'sbx-1'));
    const group = await driver.create('sbx-1');
    expect(await group.usage()).toEqual({
      memoryBytes: 1048576, memoryPeakBytes: 2097152, oomKills: 1, memoryLimitHits: 5, cpuUsec: 123456, pids: 3,
    });
  });

  test('freeze writes cgroup.freeze=1 and waits until cgroup.events says frozen 1', async () => {
    const dir = join(root, 'agentd', 'sbx-1');
    await sandboxFiles(dir);
    await writeFile(join(dir, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    const group = await driver.create('sbx-1');
    let resolved = false;
    const freezing = group.freeze().then(() => { resolved = true; });
    await until(join(dir, 'cgroup.freeze'), '1');
    await sleep(50);
    expect(resolved).toBe(false);
    await writeFile(join(dir, 'cgroup.events'), 'populated 1\nfrozen 1\n');
    await freezing;
    expect(await group.isFrozen()).toBe(true);
    const thawing = group.thaw();
    await until(join(dir, 'cgroup.freeze'), '0');
    await writeFile(join(dir, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    await thawing;
  });

  test('freeze that never completes times out and asks to thaw again', async () => {
    const dir = join(root, 'agentd', 'sbx-1');
    await sandboxFiles(dir);
    const group = await driver.create('sbx-1');
    const err = await group.freeze({ timeoutMs: 100 }).catch((e: unknown) => e);
    expect((err as AgentdError).code).toBe('TIMEOUT');
    expect(await read(join(dir, 'cgroup.freeze'))).toBe('0');
  });

  test('killAll writes cgroup.kill and waits for cgroup.procs to empty', async () => {
    const dir = join(root, 'agentd', 'sbx-1');
    await sandboxFiles(dir);
    const group = await driver.create('sbx-1');
    // A pid above the kernel's pid_max: it cannot belong to a real process.
    await writeFile(join(dir, 'cgroup.procs'), '4194305\n');
    let done = false;
    const killing = group.killAll().then(() => { done = true; });
    await until(join(dir, 'cgroup.kill'), '1');
    await sleep(50);
    expect(done).toBe(false);
    await writeFile(join(dir, 'cgroup.procs'), '');
    await killing;
    expect(await group.pids()).toEqual([]);
  });

  test('attach finds an existing group with its enabled controllers', async () => {
    const dir = join(root, 'agentd', 'sbx-9');
    await sandboxFiles(dir);
    expect(await driver.list()).toEqual(['sbx-9']);
    const group = await driver.attach('sbx-9');
    expect(group?.paths).toEqual({
      unified: dir, memory: { version: 2, dir }, pids: { version: 2, dir }, cpu: { version: 2, dir }, cpuacct: { version: 2, dir }, freezer: { version: 2, dir },
    });
    expect(await driver.attach('nope')).toBeUndefined();
  });
});

describe('cgroup v1 (fake tree): unavailable hierarchies', () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'agentd-fake-cg1-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test('only memory mounted: pids and cpu limits are refused, naming each reason', async () => {
    const root = join(tmp, 'cgroup');
    await mkdir(join(root, 'memory'), { recursive: true });
    await writeFile(join(tmp, 'mountinfo'), `34 30 0:31 / ${root}/memory rw - cgroup cgroup rw,memory\n`);
    const driver = new CgroupDriver({ root, mountinfoPath: join(tmp, 'mountinfo') });
    const probe = await driver.probe();
    expect(probe.version).toBe(1);
    expect(probe.controllers.memory.ok).toBe(true);
    expect(probe.controllers.freezer).toEqual({ ok: false, detail: `no cgroup hierarchy with controller 'freezer' is mounted under ${root}` });
    const err = (await driver.create('sbx-1', { pids: 5, cpus: 1 }).catch((e: unknown) => e)) as AgentdError;
    expect(err.code).toBe('LIMIT_UNSUPPORTED');
    expect(err.details.limits).toEqual(['pids', 'cpus']);
    // Nothing was created for a refused request.
    expect(await driver.list()).toEqual([]);
  });

  test('a read-only hierarchy is reported unavailable with the reason', async () => {
    const { execFileSync } = await import('node:child_process');
    const root = join(tmp, 'cgroup');
    await mkdir(join(root, 'pids'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'agentd-test', join(root, 'pids')]);
    try {
      await writeFile(join(tmp, 'mountinfo'), `38 30 0:35 / ${root}/pids rw - cgroup cgroup rw,pids\n`);
      const probe = await new CgroupDriver({ root, mountinfoPath: join(tmp, 'mountinfo') }).probe();
      expect(probe.controllers.pids).toEqual({ ok: false, detail: `${root}/pids is mounted read-only` });
    } finally {
      execFileSync('umount', [join(root, 'pids')]);
    }
  });
});
