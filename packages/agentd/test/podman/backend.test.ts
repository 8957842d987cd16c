/**
 * The podman backend against a real podman service (its own, under a temporary home):
 * start, exec, files, limits, suspend/resume, destroy leaves nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { harness, noteSkip, run, sh, type Harness } from './fixture.js';

describe.skipIf(noteSkip('backend'))('podman backend', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness();
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  }, 120_000);

  test("probe says available and claims agentd's seccomp rules", async () => {
    const p = await h.backend.probe();
    expect(p.available).toBe(true);
    expect(p.features.seccomp.ok).toBe(true);
    expect(p.features.memoryLimit.ok).toBe(true);
  });

  test('exec as the agent user in its own user namespace, no network, read-only system', async () => {
    const s = await h.start();
    const r = await sh(s, 'id -u; id -un; cat /proc/self/uid_map | tr -s " "; ls /sys/class/net; touch /usr/x 2>&1; echo rc=$?; echo hi > /workspace/f && cat /workspace/f');
    const out = r.stdout.toString();
    expect(r.exitCode).toBe(0);
    expect(out).toMatch(/^1000\nagent\n/);
    // uid 0 inside is the sandbox's block of host uids, never host root.
    expect(out).toMatch(/ 0 [1-9]\d{5,} 65536/);
    expect(out).toContain('\nlo\n');
    expect(out).not.toMatch(/\neth\d/);
    expect(out).toMatch(/Read-only file system[\s\S]*rc=1/);
    expect(out).toContain('hi\n');
    const code = await run(s, ['/bin/sh', '-c', 'exit 7']);
    expect(code.exitCode).toBe(7);
    const stdin = await run(s, ['/bin/cat'], { stdin: 'from stdin' });
    expect(stdin.stdout.toString()).toBe('from stdin');
    await s.destroy();
  }, 60_000);

  test('files through the channel land in the workspace', async () => {
    const s = await h.start();
    await s.channel.fs.write('/workspace/a.txt', 'abc');
    const read = await s.channel.fs.read('/workspace/a.txt');
    expect(read.data.toString()).toBe('abc');
    const r = await sh(s, 'cat /workspace/a.txt');
    expect(r.stdout.toString()).toBe('abc');
    const st = await s.channel.fs.stat('/workspace/a.txt');
    expect(st.uid).toBe(1000);
    await s.destroy();
  }, 60_000);

  test('memory and pids limits are enforced by the container cgroup', async () => {
    const s = await h.start({ limits: { memoryBytes: 64 * 1024 * 1024, pids: 40 } });
    // More than the limit: the OOM killer ends it (SIGKILL), never a normal exit.
    const mem = await run(s, ['/usr/bin/python3', '-c', 'b = bytearray(200 * 1024 * 1024); print(len(b))'], { timeoutMs: 30_000 });
    expect(mem.signal ?? mem.exitCode).not.toBe(0);
    expect(mem.stdout.toString()).not.toContain(String(200 * 1024 * 1024));
    const forks = await sh(s, 'for i in $(seq 1 80); do sleep 5 & done 2>&1 | grep -c -i "resource temporarily unavailable\\|cannot fork"; true', { timeoutMs: 30_000 });
    expect(Number(forks.stdout.toString().trim())).toBeGreaterThan(0);
    await s.destroy();
  }, 90_000);

  test('suspend stops every process until resume', async () => {
    const s = await h.start();
    await s.suspend();
    expect(s.suspended).toBe(true);
    const pending = run(s, ['/bin/echo', 'after']);
    const early = await Promise.race([pending.then(() => 'ran'), new Promise((r) => setTimeout(() => r('waiting'), 1500))]);
    expect(early).toBe('waiting');
    await s.resume();
    expect((await pending).stdout.toString()).toBe('after\n');
    await s.destroy();
  }, 60_000);

  test('destroy leaves no container and no folder', async () => {
    const s = await h.start();
    const api = await h.backend.apiFor(h.home);
    const id = (s as unknown as { containerId: string }).containerId;
    expect((await api.raw('GET', `/containers/${id}/exists`)).status).toBe(204);
    await s.destroy();
    expect((await api.raw('GET', `/containers/${id}/exists`)).status).toBe(404);
    const { existsSync } = await import('node:fs');
    expect(existsSync(s.spec.dirs.root)).toBe(false);
    expect(s.isAlive()).toBe(false);
  }, 60_000);
});
