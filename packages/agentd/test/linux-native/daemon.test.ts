/**
 * The linux-native backend behind a real daemon: the REST API works on it, and what it cannot
 * do is refused with a clear code (images, root inside, profiles that demand a pid namespace).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { importImage } from '../../src/images/import.js';
import { ImageStore } from '../../src/images/store.js';
import { AgentdError } from '../../src/core/errors.js';
import { detectBest } from '../../src/isolation/detect.js';
import { assertProfileAllows } from '../../src/isolation/profile-guard.js';
import { unavailableProbe } from '../../src/isolation/probe-util.js';
import { silentLogger } from '../../src/util/logger.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { LinuxNativeBackend } from '../../src/isolation/linux-native/backend.js';
import { native, noteSkip, skipReason } from './fixture.js';

const cgroupParent = (): string => `agentd-test-ll-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

describe.skipIf(noteSkip('daemon', skipReason))('linux-native behind the daemon', () => {
  let d: TestDaemon;

  beforeAll(async () => {
    d = await startTestDaemon({ isolation: { backend: 'landlock', backends: { 'linux-native': { cgroup_parent: cgroupParent() } } } });
  }, 60_000);

  afterAll(async () => {
    await d?.close();
  });

  test('create, exec, files, delete through the alias landlock', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(c.status).toBe(201);
    expect(c.body.backend).toBe('linux-native');
    const id = c.body.id as string;
    const e = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo hi > out.txt; cat out.txt; id -u; exit 3' } });
    expect(e.body.exit_code).toBe(3);
    const [hi, uid] = (e.body.stdout as string).trim().split('\n');
    expect(hi).toBe('hi');
    expect(Number(uid)).toBeGreaterThanOrEqual(1_000_000);
    expect((await d.call('GET', `/v1/sandboxes/${id}/files?path=out.txt`)).text).toBe('hi\n');
    // A host file outside the rules: the init's file operation is refused inside the ruleset.
    const outside = await d.call('GET', `/v1/sandboxes/${id}/files?path=${encodeURIComponent('/etc/fstab')}`);
    expect(outside.body.error?.code ?? outside.body.code).toBe('FS_ERROR');
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
  });

  test('root inside is refused (no image, no user namespace)', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    const e = await d.call('POST', `/v1/sandboxes/${c.body.id as string}/exec`, { body: { argv: ['id', '-u'], user: 'root' } });
    expect(e.status).toBe(403);
    expect(JSON.stringify(e.body)).toContain('POLICY_DENIED');
    await d.call('DELETE', `/v1/sandboxes/${c.body.id as string}`);
  });

  test('an image is refused with a clear code', async () => {
    // A real image in the daemon's store (one empty folder is a root file system to the store).
    const work = await mkdtemp(join(tmpdir(), 'agentd-ll-image-'));
    try {
      await mkdir(join(work, 'fs/etc'), { recursive: true });
      await writeFile(join(work, 'fs/etc/a'), 'a\n');
      execFileSync('tar', ['-C', join(work, 'fs'), '--numeric-owner', '--owner=0', '--group=0', '-czf', join(work, 'rootfs.tar.gz'), '.']);
      await importImage(new ImageStore(d.home), 'tiny', join(work, 'rootfs.tar.gz'));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    const before = (await d.call('GET', '/v1/sandboxes')).body.sandboxes.length as number;
    const c = await d.call('POST', '/v1/sandboxes', { body: { image: 'tiny' } });
    // The manager's own refusal: by name here (INVALID_ARGUMENT), from the probe's features.images
    // (off: BACKEND_UNAVAILABLE) once the backend-agnostic core decides; or the backend's own
    // (ISOLATION_REQUIRED, rule images). Never a sandbox.
    expect([400, 503]).toContain(c.status);
    expect(['INVALID_ARGUMENT', 'ISOLATION_REQUIRED', 'BACKEND_UNAVAILABLE']).toContain(c.body.error.code);
    expect(c.body.error.message).toMatch(/linux-native/);
    expect((await d.call('GET', '/v1/sandboxes')).body.sandboxes.length).toBe(before);
  });
});

describe.skipIf(noteSkip('profiles', skipReason))('profiles and linux-native', () => {
  test('server and paranoid refuse it (ISOLATION_REQUIRED, rule pid_namespace); workstation takes it', async () => {
    const probe = await new LinuxNativeBackend(native.init, silentLogger).probe();
    expect(probe.available).toBe(true);
    for (const profile of ['server', 'paranoid'] as const) {
      let err: unknown;
      try {
        assertProfileAllows(profile, 'landlock', probe);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AgentdError);
      expect((err as AgentdError).code).toBe('ISOLATION_REQUIRED');
      expect((err as AgentdError).details.rule).toBe('pid_namespace');
    }
    expect(() => assertProfileAllows('workstation', 'landlock', probe)).not.toThrow();
  });

  test('auto detection under server never falls back to it; under workstation it does when namespace is unavailable', async () => {
    const probe = await new LinuxNativeBackend(native.init, silentLogger).probe();
    const probes = [unavailableProbe('namespace', 'kernel', 'user namespaces disabled'), probe];
    expect(detectBest(probes, { requireKernel: false, profile: 'workstation' })).toBe('linux-native');
    expect(() => detectBest(probes, { requireKernel: true, profile: 'server' })).toThrow(AgentdError);
  });

  test('a daemon with profile server and backend linux-native does not start', async () => {
    let err: unknown;
    try {
      const d = await startTestDaemon({ profile: 'server', isolation: { backend: 'linux-native', backends: { 'linux-native': { cgroup_parent: cgroupParent() } } } });
      await d.close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('ISOLATION_REQUIRED');
    expect((err as AgentdError).details.rule).toBe('pid_namespace');
  }, 60_000);
});
