import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PRESETS } from '../../src/config/profiles.js';
import { AgentdError } from '../../src/core/errors.js';
import { runCli } from '../cli/cli.js';
import { buildFixtures, type Fixtures } from '../fixtures/build.js';
import { newHome, startOnHome, type HomeDaemon } from './life-helpers.js';

const isRoot = process.getuid?.() === 0;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const parent = `agentd-test-life-lim-${process.pid}`;

describe('every profile limits memory, pids, CPU and disk by default', () => {
  test.each(['workstation', 'server', 'paranoid', 'custom'] as const)('%s preset', (profile) => {
    const { memory_bytes, pids, cpus, disk_bytes } = PRESETS[profile].sandbox.limits;
    for (const v of [memory_bytes, pids, cpus, disk_bytes]) expect(v).toBeGreaterThan(0);
  });
});

describe.skipIf(!isRoot)('a default limit the backend cannot enforce is refused at start, naming the key (real daemon)', () => {
  test('host-direct (no disk volume) under the workstation defaults: LIMIT_UNSUPPORTED, touching nothing; with the key at 0 it starts', async () => {
    const home = await newHome('agentd-life-refuse-');
    try {
      const err = await startOnHome(home, parent, { isolation: { backend: 'host-direct' } }).then(
        async (d) => {
          await d.stop();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AgentdError);
      expect((err as AgentdError).code).toBe('LIMIT_UNSUPPORTED');
      expect((err as AgentdError).details.limits).toEqual(['sandbox.limits.disk_bytes']);
      expect((err as AgentdError).message).toContain('set sandbox.limits.disk_bytes = 0 in the config');
      const d = await startOnHome(home, parent, { isolation: { backend: 'host-direct' }, sandbox: { limits: { disk_bytes: 0 } } });
      await d.stop();
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!isRoot)('agentd run (the operator\'s own one-shot command) warns instead', () => {
  test('agentd run on host-direct names the default limits it cannot enforce in a warning, then runs', async () => {
    const home = await newHome('agentd-life-run-');
    try {
      // As the README runs it: host-direct cannot restrict the network, so the run asks for the host's (network none, the default, is refused, not dropped).
      const r = await runCli(['run', '--backend', 'host-direct', '--', 'sh', '-c', 'echo ran'], { AGENTD_HOME: home, AGENTD_CONFIG: '', AGENTD_NETWORK: 'host' });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('ran\n');
      expect(r.stderr).toMatch(/backend 'host-direct' cannot enforce sandbox\.limits\.disk_bytes .*this run goes without it \(set sandbox\.limits\.disk_bytes = 0 in the config/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});

/** The cgroup v1 file of a sandbox under our test parent. */
const cgroupFile = (controller: string, id: string, file: string): Promise<string> => readFile(join('/sys/fs/cgroup', controller, parent, id, file), 'utf8').then((s) => s.trim());

describe.skipIf(!isRoot)('bombs in real sandboxes with the default limits: each stopped by its limit, the neighbour still answers (root: real bwrap, cgroups, loop volumes)', () => {
  let home: string;
  let d: HomeDaemon;
  let fixtures: Fixtures;
  let neighbour: string;

  beforeAll(async () => {
    fixtures = await buildFixtures(['alloc', 'fork-bomb']);
    home = await newHome('agentd-life-bombs-');
    d = await startOnHome(home, parent);
    neighbour = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id as string;
  }, 60_000);
  afterAll(async () => {
    await d?.stop();
    await rm(home, { recursive: true, force: true });
    await fixtures?.cleanup();
  });

  /** A sandbox with a profile's default limits (the request names only the profile). */
  async function bombSandbox(profile: 'workstation' | 'paranoid'): Promise<string> {
    const c = await d.call('POST', '/v1/sandboxes', { body: profile === 'workstation' ? {} : { profile } });
    expect(c.status).toBe(201);
    return c.body.id as string;
  }
  async function upload(id: string, name: 'alloc' | 'fork-bomb'): Promise<void> {
    const put = await d.call('PUT', `/v1/sandboxes/${id}/files?path=/workspace/${name}`, { raw: await readFile(fixtures.path(name)) });
    expect(put.status).toBeLessThan(300);
    expect((await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['chmod', '755', `/workspace/${name}`] } })).body.exit_code).toBe(0);
  }
  const exec = (id: string, body: Record<string, unknown>) => d.call('POST', `/v1/sandboxes/${id}/exec`, { body });
  /** The neighbour answers a trivial command while `bomb` runs. */
  async function neighbourAnswersDuring<T>(bomb: Promise<T>): Promise<T> {
    await new Promise((r) => setTimeout(r, 500));
    const answer = await exec(neighbour, { command: 'echo ok' });
    expect(answer.body.stdout).toBe('ok\n');
    return bomb;
  }

  test('a default sandbox carries the workstation limits in its cgroup and volume', async () => {
    const id = await bombSandbox('workstation');
    const limits = PRESETS.workstation.sandbox.limits;
    expect(Number(await cgroupFile('memory', id, 'memory.limit_in_bytes'))).toBe(limits.memory_bytes);
    expect(Number(await cgroupFile('pids', id, 'pids.max'))).toBe(limits.pids);
    expect(Number(await cgroupFile('cpu', id, 'cpu.cfs_quota_us')) / Number(await cgroupFile('cpu', id, 'cpu.cfs_period_us'))).toBe(limits.cpus);
    const df = await exec(id, { command: 'df -B1 --output=size /workspace | tail -1' });
    expect(Number(df.body.stdout.trim())).toBeGreaterThan(0.9 * (limits.disk_bytes ?? 0));
    expect(Number(df.body.stdout.trim())).toBeLessThanOrEqual(limits.disk_bytes ?? 0);
    await d.call('DELETE', `/v1/sandboxes/${id}`);
  });

  test('memory bomb: OOM-killed at the workstation default (4 GiB), resource_limited', async () => {
    const id = await bombSandbox('workstation');
    await upload(id, 'alloc');
    const r = await neighbourAnswersDuring(exec(id, { argv: ['/workspace/alloc', String(6 * 1024), '5'], timeout_ms: 60_000 }));
    expect(r.body.resource_limited).toBe(true);
    expect(r.body.signal).toBe('SIGKILL');
    expect(r.body.stdout).not.toContain('allocated');
    expect(Number(await cgroupFile('memory', id, 'memory.max_usage_in_bytes'))).toBeLessThanOrEqual(4 * GiB);
    await d.call('DELETE', `/v1/sandboxes/${id}`);
  }, 90_000);

  test('fork bomb: fork fails with EAGAIN at the paranoid default (256 pids); the exec timeout still ends it', async () => {
    const id = await bombSandbox('paranoid');
    await upload(id, 'fork-bomb');
    const r = await neighbourAnswersDuring(exec(id, { argv: ['/workspace/fork-bomb'], timeout_ms: 4000 }));
    expect(r.body.stdout).toContain('fork failed: EAGAIN');
    expect(r.body.timed_out).toBe(true);
    expect(Number(await cgroupFile('pids', id, 'pids.max'))).toBe(256);
    await d.call('DELETE', `/v1/sandboxes/${id}`);
  }, 90_000);

  test('disk-fill bomb: ENOSPC at the paranoid default volume (1 GiB); the host file system keeps its space', async () => {
    const id = await bombSandbox('paranoid');
    const r = await neighbourAnswersDuring(exec(id, { command: 'dd if=/dev/zero of=/workspace/fill bs=1M 2>&1; echo "exit=$?"; df -B1 --output=avail /workspace | tail -1', timeout_ms: 120_000 }));
    expect(r.body.stdout).toContain('No space left on device');
    // dd stopped by ENOSPC with less than one of its 1 MiB blocks left.
    expect(r.body.stdout).toContain('exit=1\n');
    expect(Number(r.body.stdout.trim().split('\n').at(-1))).toBeLessThan(MiB);
    const size = await exec(id, { command: 'stat -c %s /workspace/fill' });
    expect(Number(size.body.stdout)).toBeLessThanOrEqual(1 * GiB);
    await d.call('DELETE', `/v1/sandboxes/${id}`);
  }, 180_000);

  test('inode bomb (many empty files): ENOSPC when the volume runs out of inodes, bytes still free', async () => {
    const id = await bombSandbox('paranoid');
    // `true`, not `:`: a failed redirection on a special builtin would end dash itself.
    const script = 'cd /workspace && mkdir bomb && cd bomb && i=0; while true 2>/dev/null > f$i; do i=$((i+1)); done; echo "made=$i"; true > one-more; df --output=iavail,avail -B1 /workspace | tail -1';
    const r = await neighbourAnswersDuring(exec(id, { command: script, timeout_ms: 300_000 }));
    expect(r.body.stderr).toMatch(/one-more: No space left on device/);
    const made = Number(/made=(\d+)/.exec(r.body.stdout)?.[1]);
    expect(made).toBeGreaterThan(10_000);
    const [inodesFree, bytesFree] = (r.body.stdout.trim().split('\n').at(-1) ?? '').trim().split(/\s+/).map(Number);
    expect(inodesFree).toBe(0);
    expect(bytesFree).toBeGreaterThan(100 * MiB);
    await d.call('DELETE', `/v1/sandboxes/${id}`);
  }, 400_000);
});
