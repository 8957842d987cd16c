/**
 * The namespace backend with shepherd_subreaper = false: agentd-init --no-shepherd-subreaper,
 * the mode the gvisor backend uses where gVisor's kernel refuses PR_SET_CHILD_SUBREAPER below
 * PID 1, tested here through a real daemon (real bwrap, real cgroups) so it is covered where
 * gVisor is not: orphans go to the init (PID 1 of the sandbox) and are reaped, a timeout kills
 * the exec's whole tree (orphans the init inherited included), exit codes are kept.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { killAll, sleepers, token, waitUntil } from '../init/raw-init.js';
import { noteSkip, skipReason } from './fixture.js';

describe.skipIf(noteSkip('namespace backend without subreaper shepherds', skipReason))('namespace backend, shepherd_subreaper = false', () => {
  let d: TestDaemon;
  let id: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are free-form JSON, checked by expect()
  const exec = async (body: Record<string, unknown>): Promise<any> => {
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body });
    expect(r.status, r.text).toBe(200);
    return r.body as unknown;
  };

  beforeAll(async () => {
    d = await startTestDaemon({ isolation: { backend: 'namespace', backends: { namespace: { cgroup_parent: `agentd-test-${process.pid}-nosub`, shepherd_subreaper: false } } } });
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(c.status, c.text).toBe(201);
    id = c.body.id as string;
  }, 120_000);
  afterAll(async () => {
    if (id !== undefined) await d?.call('DELETE', `/v1/sandboxes/${id}`);
    await d?.close();
  });

  test('the init runs with --no-shepherd-subreaper; an orphan is reparented to it (PID 1) and reaped, no zombie stays', async () => {
    const cmdline = await exec({ command: 'tr "\\0" " " < /proc/1/cmdline' });
    expect(cmdline.stdout).toContain('--no-shepherd-subreaper');
    const marker = token();
    try {
      // The orphan's parent, seen inside: the init, not the (exited) shepherd.
      const script = `(sleep ${marker} &); sleep 0.3; for p in /proc/[0-9]*; do [ "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" = "sleep ${marker} " ] && cut -d' ' -f4 $p/stat; done; exit 3`;
      const r = await exec({ command: script });
      expect(r.exit_code).toBe(3);
      expect(r.stdout).toBe('1\n');
      const [orphan] = await waitUntil(() => sleepers(marker), (v) => v.length === 1);
      expect(orphan).toBeDefined();
      process.kill(orphan as number, 'SIGKILL');
      // Reaped by the init: no zombie among the sandbox's processes (polled: the machine may be busy).
      let zombies = '';
      for (let i = 0; i < 30; i++) {
        zombies = (await exec({ command: 'for p in /proc/[0-9]*; do cut -d" " -f3 $p/stat 2>/dev/null; done | grep -c Z; true' })).stdout as string;
        if (zombies.trim() === '0') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(zombies.trim()).toBe('0');
    } finally {
      await killAll(marker);
    }
  }, 60_000);

  test('a timeout kills the whole tree: the leader, a background child and double-forked orphans the init inherited', async () => {
    const marker = token();
    try {
      const pgidSleep = `python3 -c 'import os; os.setpgid(0, 0); os.execvp("sleep", ["sleep", "${marker}"])'`;
      const running = exec({ command: `(sleep ${marker} &); (${pgidSleep} &); sleep ${marker} & sleep ${marker}`, timeout_ms: 3000 });
      // All four run before the timeout (two of them already the init's children).
      expect(await waitUntil(() => sleepers(marker), (v) => v.length === 4, 2500)).toHaveLength(4);
      const r = await running;
      expect(r.timed_out).toBe(true);
      expect(await waitUntil(() => sleepers(marker), (v) => v.length === 0, 5000)).toEqual([]);
      // The sandbox lives on.
      expect((await exec({ command: 'echo alive' })).stdout).toBe('alive\n');
    } finally {
      await killAll(marker);
    }
  }, 60_000);
});
