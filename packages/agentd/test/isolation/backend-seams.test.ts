/**
 * The backend seams (isolation/types.ts, isolation/lifecycle.ts): a backend registered only
 * here, under a name the core has never heard of, gets create, snapshot, restore, fork,
 * destroy and start-up recovery from the manager and the daemon without either knowing it;
 * its probe alone decides images and snapshots. It runs its sandboxes through a real
 * namespace backend (real bwrap, cgroups, init), so what is checked is the real sequence.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Channel } from '../../src/channel/types.js';
import { AgentdError } from '../../src/core/errors.js';
import { createBuiltinRegistry } from '../../src/isolation/builtins.js';
import { InitSandbox, type ExitStatus } from '../../src/isolation/init-sandbox.js';
import { defaultFork, defaultRestore, defaultSnapshot } from '../../src/isolation/lifecycle.js';
import { createNamespaceBackend } from '../../src/isolation/namespace/backend.js';
import type { BackendFactory, BackendProbe, FeatureStatus, IsolationBackend, RecoverContext } from '../../src/isolation/types.js';
import { silentLogger } from '../../src/util/logger.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { probeOf } from './fake-backends.js';

const isRoot = process.getuid?.() === 0;
const NAME = 'seambox';

interface Calls {
  snapshot: string[];
  restore: string[];
  fork: string[];
  removeFiles: string[];
  recover: RecoverContext[];
}

/**
 * A backend under a new name: start and probe come from a namespace backend (its own cgroup
 * parent); with `hooks`, it has its own snapshot/restore/fork/removeFiles/recover that record
 * each call and do the shared default's work; `features` are laid over its probe's.
 */
function seamBackend(calls: Calls, opts: { hooks: boolean; name?: string; features?: Record<string, FeatureStatus | undefined> }, parent: string): BackendFactory {
  const name = opts.name ?? NAME;
  return (ctx) => {
    const inner = createNamespaceBackend({ ...ctx, options: { cgroup_parent: parent } });
    const backend: IsolationBackend = {
      name,
      isolation: 'kernel',
      async probe(): Promise<BackendProbe> {
        const p = await inner.probe();
        const features = { ...p.features, ...opts.features } as BackendProbe['features'];
        for (const [k, v] of Object.entries(opts.features ?? {})) if (v === undefined) delete features[k];
        return { ...p, backend: name, features };
      },
      start: (spec, o) => inner.start(spec, o),
      prepareHome: (dir) => inner.prepareHome?.(dir) ?? Promise.resolve(),
      close: () => inner.close?.() ?? Promise.resolve(),
    };
    if (!opts.hooks) return backend;
    return {
      ...backend,
      async snapshot(dirs, root, id, o) {
        calls.snapshot.push(o.sandboxId);
        return defaultSnapshot(dirs, root, id, o);
      },
      async restore(snapDir, dirs, o) {
        calls.restore.push(dirs.root);
        return defaultRestore(snapDir, dirs, o);
      },
      async fork(snapDir, dirs, o) {
        calls.fork.push(dirs.root);
        return defaultFork(snapDir, dirs, o);
      },
      async removeFiles(dirs) {
        calls.removeFiles.push(dirs.root);
        const { removeSandboxDirs } = await import('../../src/isolation/dirs.js');
        return removeSandboxDirs(dirs);
      },
      async recover(rc) {
        calls.recover.push(rc);
        return (await inner.recover?.(rc)) ?? { cgroups: [] };
      },
    };
  };
}

const newCalls = (): Calls => ({ snapshot: [], restore: [], fork: [], removeFiles: [], recover: [] });

async function exec(d: TestDaemon, id: string, command: string): Promise<{ exit_code: number; stdout: string }> {
  const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as { exit_code: number; stdout: string };
}

describe.skipIf(!isRoot)('a backend the core does not know: lifecycle through its hooks (root: real bwrap and cgroups)', () => {
  const parent = `agentd-test-seam-${process.pid}`;
  const calls = newCalls();
  let d: TestDaemon;
  let forkedId = '';
  beforeAll(async () => {
    const registry = createBuiltinRegistry().register(NAME, seamBackend(calls, { hooks: true }, parent));
    d = await startTestDaemon({}, { registry });
  });
  afterAll(async () => {
    await d?.close();
  });

  test('create, snapshot, restore and fork go through the backend hooks; the files are what the defaults make them', async () => {
    const created = await d.call('POST', '/v1/sandboxes', { body: { backend: NAME } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect(created.body.backend).toBe(NAME);
    await exec(d, id, "printf one > /workspace/f");
    const snap = await d.call('POST', `/v1/sandboxes/${id}/snapshot`, { body: {} });
    expect(snap.status, JSON.stringify(snap.body)).toBe(201);
    expect(calls.snapshot).toEqual([id]);

    await exec(d, id, "printf two > /workspace/f");
    const restored = await d.call('POST', `/v1/sandboxes/${id}/restore`, { body: { snapshot_id: snap.body.id } });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(calls.restore).toEqual([join(d.home, 'sandboxes', id)]);
    expect((await exec(d, id, 'cat /workspace/f')).stdout).toBe('one');

    const forked = await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: { snapshot_id: snap.body.id } });
    expect(forked.status, JSON.stringify(forked.body)).toBe(201);
    const forkId = forked.body.id as string;
    expect(forked.body.backend).toBe(NAME);
    expect(calls.fork).toEqual([join(d.home, 'sandboxes', forkId)]);
    expect((await exec(d, forkId, 'cat /workspace/f')).stdout).toBe('one');

    forkedId = forkId;
  });

  test('start-up recovery asks the backend (this home\'s ids and folders); a stopped sandbox\'s files go the backend\'s way', async () => {
    const created = await d.call('POST', '/v1/sandboxes', { body: { backend: NAME } });
    const id = created.body.id as string;
    const home = d.home;
    // The daemon stops (sandboxes stopped, files kept); a new one on the same home recovers.
    await d.daemon.close();
    const registry = createBuiltinRegistry().register(NAME, seamBackend(calls, { hooks: true }, parent));
    const before = calls.recover.length;
    d = await startTestDaemon({ home }, { registry });
    expect(calls.recover.length).toBe(before + 1);
    const ctx = calls.recover.at(-1) as RecoverContext;
    expect(ctx.home).toBe(home);
    expect(ctx.ours.has(id)).toBe(true);
    expect(ctx.folders.map((f) => f.id)).toContain(id);
    // It was stopped cleanly (not running at the restart), so not in `stopped`.
    expect(ctx.stopped.map((s) => s.id)).not.toContain(id);
    expect(ctx.ours.has(forkedId)).toBe(true);
    // A stopped sandbox is destroyed through the backend's removeFiles (a running one's through its handle).
    expect((await d.call('DELETE', `/v1/sandboxes/${forkedId}`)).status).toBe(204);
    expect(calls.removeFiles).toEqual([join(home, 'sandboxes', forkedId)]);
    expect(existsSync(join(home, 'sandboxes', forkedId))).toBe(false);
    // And a stopped one starts again on its files, on the same backend.
    expect((await d.call('POST', `/v1/sandboxes/${id}/start`)).status).toBe(200);
    expect((await d.call('GET', `/v1/sandboxes/${id}`)).body.backend).toBe(NAME);
  });
});

describe.skipIf(!isRoot)('a backend without hooks gets the shared defaults; its probe decides images and snapshots (root)', () => {
  const parent = `agentd-test-seam2-${process.pid}`;
  let d: TestDaemon;
  const register = (name: string, features: Record<string, FeatureStatus | undefined>) => (r: ReturnType<typeof createBuiltinRegistry>) =>
    r.register(name, seamBackend(newCalls(), { hooks: false, name, features }, `${parent}-${name}`));
  beforeAll(async () => {
    let registry = createBuiltinRegistry();
    registry = register(NAME, {})(registry);
    registry = register('noimages', { images: undefined, rootInside: undefined })(registry);
    registry = register('imagesoff', { images: { ok: false, detail: 'no overlay on this host' } })(registry);
    registry = register('nosnap', { snapshot: { ok: false, detail: 'its state lives in a VM disk not copied yet' } })(registry);
    d = await startTestDaemon({}, { registry });
  });
  afterAll(async () => {
    await d?.close();
  });

  test('snapshot and fork without hooks: the default folder copy', async () => {
    const id = (await d.call('POST', '/v1/sandboxes', { body: { backend: NAME } })).body.id as string;
    await exec(d, id, 'printf kept > /workspace/g');
    const forked = await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: {} });
    expect(forked.status, JSON.stringify(forked.body)).toBe(201);
    expect((await exec(d, forked.body.id as string, 'cat /workspace/g')).stdout).toBe('kept');
  });

  test('an image on a backend whose probe has no images feature: INVALID_ARGUMENT naming the backend', async () => {
    const r = await d.call('POST', '/v1/sandboxes', { body: { backend: 'noimages', image: 'anything' } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_ARGUMENT');
    expect(r.body.error.message).toContain("backend 'noimages' does not run images");
    expect(r.body.error.details).toMatchObject({ backend: 'noimages' });
  });

  test('an image on a backend whose probe says images are off here: BACKEND_UNAVAILABLE with the probe\'s reason', async () => {
    const r = await d.call('POST', '/v1/sandboxes', { body: { backend: 'imagesoff', image: 'anything' } });
    expect(r.body.error.code).toBe('BACKEND_UNAVAILABLE');
    expect(r.body.error.message).toContain("backend 'imagesoff'");
    expect(r.body.error.message).toContain('no overlay on this host');
  });

  test('a snapshot on a backend whose probe says it cannot: refused before anything is copied', async () => {
    const id = (await d.call('POST', '/v1/sandboxes', { body: { backend: 'nosnap' } })).body.id as string;
    const r = await d.call('POST', `/v1/sandboxes/${id}/snapshot`, { body: {} });
    expect(r.body.error.code).toBe('BACKEND_UNAVAILABLE');
    expect(r.body.error.message).toContain("backend 'nosnap' cannot take a snapshot here");
    expect((await d.call('GET', '/v1/snapshots')).body.snapshots.filter((x: { sandbox_id: string }) => x.sandbox_id === id)).toEqual([]);
    expect((await d.call('POST', `/v1/sandboxes/${id}/fork`, { body: {} })).body.error.code).toBe('BACKEND_UNAVAILABLE');
  });
});

describe('the built-in probes say images and rootInside', () => {
  test('host-direct: both off, with the reason', async () => {
    const registry = createBuiltinRegistry();
    const dir = await mkdtemp(join(tmpdir(), 'agentd-seam-probe-'));
    try {
      const hd = registry.create('host-direct', { initPath: join(dir, 'init'), logger: silentLogger, options: {} });
      const p = await hd.probe();
      expect(p.features.images).toMatchObject({ ok: false });
      expect(p.features.rootInside).toMatchObject({ ok: false });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the one start sequence rolls back the same way for every backend (a fake backend, no root needed)', () => {
  let d: TestDaemon;
  const log: string[] = [];
  /**
   * 'throws': start makes the sandbox's folder, then fails. 'unready': start returns an
   * InitSandbox (options form, a launcher that is no process) whose init never becomes ready.
   */
  const failing = (mode: 'throws' | 'unready'): BackendFactory => () => ({
    name: `fail-${mode}`,
    isolation: 'kernel',
    probe: async () => probeOf(`fail-${mode}`, 'kernel', true),
    async start(spec) {
      await mkdir(spec.dirs.workspace, { recursive: true });
      if (mode === 'throws') throw new AgentdError('BACKEND_UNAVAILABLE', 'failed on purpose after making the folders');
      let exit: (s: ExitStatus) => void = () => undefined;
      const exited = new Promise<ExitStatus>((r) => (exit = r));
      const channel = {
        ready: Promise.reject(new AgentdError('SANDBOX_DEAD', 'the init never answered')),
        closed: new Promise(() => undefined),
        isClosed: false,
        shutdown: async () => {
          log.push('shutdown');
          exit({ code: 0, signal: null });
        },
      } as unknown as Channel;
      channel.ready.catch(() => undefined);
      return new InitSandbox({
        backend: `fail-${mode}`, spec, baseEnv: {}, channel, logger: silentLogger,
        launcher: { exited, kill: () => log.push('kill') },
        teardown: async () => void log.push('teardown'),
        removeFiles: async () => void log.push('handle removeFiles'),
      });
    },
    async removeFiles(dirs) {
      log.push(`removeFiles ${dirs.root}`);
      await rm(dirs.root, { recursive: true, force: true });
    },
  });
  beforeAll(async () => {
    const registry = createBuiltinRegistry().register('fail-throws', failing('throws')).register('fail-unready', failing('unready'));
    // The fake's probe offers no disk limit: none of the profile's default limits.
    d = await startTestDaemon({ isolation: { backend: 'fail-throws' }, sandbox: { limits: { memory_bytes: 0, pids: 0, cpus: 0, disk_bytes: 0 } } }, { registry });
  });
  afterAll(async () => {
    await d?.close();
  });

  test('a start that throws: no record, no folder (removed the backend\'s way)', async () => {
    const r = await d.call('POST', '/v1/sandboxes', { body: { backend: 'fail-throws' } });
    expect(r.body.error.code).toBe('BACKEND_UNAVAILABLE');
    expect((await d.call('GET', '/v1/sandboxes')).body.sandboxes).toEqual([]);
    expect(log.filter((l) => l.startsWith('removeFiles'))).toHaveLength(1);
    expect(await readdir(join(d.home, 'sandboxes')).catch(() => [])).toEqual([]);
  });

  test('an init that never gets ready: the handle is destroyed keeping files (teardown run), then the files go, no record', async () => {
    log.length = 0;
    const r = await d.call('POST', '/v1/sandboxes', { body: { backend: 'fail-unready' } });
    expect(r.body.error.code).toBe('SANDBOX_DEAD');
    expect((await d.call('GET', '/v1/sandboxes')).body.sandboxes).toEqual([]);
    expect(log).toEqual(['shutdown', 'teardown', expect.stringMatching(/^removeFiles \//)]);
    expect(await readdir(join(d.home, 'sandboxes')).catch(() => [])).toEqual([]);
  });
});
