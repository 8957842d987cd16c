/**
 * agentd-init --no-shepherd-subreaper (how the gvisor backend runs it where gVisor's kernel
 * refuses PR_SET_CHILD_SUBREAPER below PID 1): the init is PID 1 of its pid namespace, the
 * shepherds are not subreapers, so a command's orphans are reparented to the init. The
 * guarantees stay: exit status, a tree signal reaches the exec's group and session (orphans
 * included), no zombie is left, a killed shepherd takes its exec's processes along and only
 * those. Run here, under a plain pid namespace, so it is covered where gVisor is not.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { SCOPE } from '../../src/channel/frames.js';
import { exec, HAVE_INIT, INIT_PATH, killAll, RawInit, sleepers, token, waitUntil } from './raw-init.js';

const UNSHARE_ARGS = ['--user', '--map-root-user', '--pid', '--fork', '--mount-proc'];
const canUnshare = spawnSync('unshare', [...UNSHARE_ARGS, 'true']).status === 0;
if (!canUnshare) console.warn('skipping --no-shepherd-subreaper tests: `unshare --user --pid` does not work here');

async function startPid1(): Promise<RawInit> {
  const root = await mkdtemp(join(tmpdir(), 'agentd-init-nosub-'));
  const child = spawn('unshare', [...UNSHARE_ARGS, INIT_PATH, '--fs-root', root, '--no-shepherd-subreaper'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  return new RawInit(child, root);
}

/** The host pid of the init: the only child of the unshare process. */
async function hostPidOfInit(init: RawInit): Promise<number> {
  const kids = await waitUntil(
    async () => (await readFile(`/proc/${init.pid}/task/${init.pid}/children`, 'utf8')).trim(),
    (s) => s !== '',
  );
  return Number(kids.split(/\s+/)[0]);
}

/** Host pids of the processes whose parent is `ppid`, with their state letter. */
async function childrenOf(ppid: number): Promise<Array<{ pid: number; state: string; cmd: string }>> {
  const out: Array<{ pid: number; state: string; cmd: string }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push({ pid: Number(name), state: fields[0] ?? '', cmd: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

const nosubTest = test.extend<{ init: RawInit }>({
  // eslint-disable-next-line no-empty-pattern
  init: async ({}, use) => {
    const init = await startPid1();
    try {
      await use(init);
    } finally {
      await init.close();
    }
  },
});

describe.skipIf(!HAVE_INIT)('agentd-init --no-shepherd-subreaper outside PID 1', () => {
  test('is refused unless the init is PID 1 or a subreaper itself (orphans must never reach a process outside the sandbox)', () => {
    const r = spawnSync(INIT_PATH, ['--fs-root', '/', '--no-shepherd-subreaper'], { input: '', encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--no-shepherd-subreaper needs the init to be PID 1');
  });
});

describe.skipIf(!HAVE_INIT || !canUnshare)('agentd-init --no-shepherd-subreaper as PID 1', () => {
  nosubTest('orphans are reparented to the init, and reaped: exit status kept, no zombie left', async ({ init }) => {
    expect((await init.answer('READY', 0)).pid).toBe(1);
    const marker = token();
    try {
      // A double fork: the subshell exits at once, its sleep is orphaned while the leader still runs.
      init.send(exec(1, ['sh', '-c', `(sleep ${marker} &); sleep 0.3; exit 5`]));
      await init.answer('STARTED', 1);
      const r = await init.collect(1);
      expect(r.exit.exitCode).toBe(5);
      const initHost = await hostPidOfInit(init);
      const [orphan] = await waitUntil(() => sleepers(marker), (v) => v.length === 1);
      expect(orphan).toBeDefined();
      // Its parent is the init (the shepherd is no subreaper, and has exited with the leader).
      expect((await childrenOf(initHost)).map((c) => c.pid)).toContain(orphan);
      // It dies, and the init reaps it: no zombie among the init's children.
      process.kill(orphan as number, 'SIGKILL');
      const kids = await waitUntil(() => childrenOf(initHost), (v) => v.every((c) => c.state !== 'Z' && c.pid !== orphan));
      expect(kids.filter((c) => c.state === 'Z')).toEqual([]);
      expect(kids.map((c) => c.pid)).not.toContain(orphan);
    } finally {
      await killAll(marker);
    }
  });

  nosubTest('a tree SIGKILL reaches the group, the session and the orphans the init inherited: no survivor, no zombie', async ({ init }) => {
    await init.answer('READY', 0);
    const marker = token();
    try {
      // Orphans in the exec's session (double forks), one of them in a process group of its
      // own (setpgid), a background child, and the leader itself still running.
      const pgidSleep = `python3 -c 'import os; os.setpgid(0, 0); os.execvp("sleep", ["sleep", "${marker}"])'`;
      const script = `(sleep ${marker} &); (${pgidSleep} &); sleep ${marker} & sleep ${marker}`;
      init.send(exec(10, ['sh', '-c', script]));
      await init.answer('STARTED', 10);
      const initHost = await hostPidOfInit(init);
      await waitUntil(() => sleepers(marker), (v) => v.length === 4);
      expect(await sleepers(marker)).toHaveLength(4);
      // At least two of them are the init's children now (the double forks' orphans).
      const orphans = (await childrenOf(initHost)).filter((c) => c.cmd === 'sleep');
      expect(orphans.length).toBeGreaterThanOrEqual(2);
      init.send({ type: 'SIGNAL', id: 11, execId: 10, signo: 9, scope: SCOPE.tree });
      await init.answer('OK', 11);
      const r = await init.collect(10);
      expect(r.exit.signal).toBe(9);
      expect(await waitUntil(() => sleepers(marker), (v) => v.length === 0)).toEqual([]);
      const kids = await waitUntil(() => childrenOf(initHost), (v) => v.every((c) => c.state !== 'Z'));
      expect(kids.filter((c) => c.state === 'Z')).toEqual([]);
    } finally {
      await killAll(marker);
    }
  });

  nosubTest("a killed shepherd takes its exec's processes along, not another exec's orphans", async ({ init }) => {
    await init.answer('READY', 0);
    const mine = token();
    const other = token();
    try {
      // Another exec's orphan, reparented to the init: it must survive.
      init.send(exec(20, ['sh', '-c', `(sleep ${other} &); :`]));
      await init.collect(20);
      await waitUntil(() => sleepers(other), (v) => v.length === 1);
      // This exec kills its own shepherd (same uid: it can), its orphan and leader must go.
      // (The leader's parent, $PPID, is its shepherd.)
      init.send(exec(21, ['sh', '-c', `(sleep ${mine} &); sleep 0.2; kill -9 $PPID; sleep ${mine}`]));
      await init.answer('STARTED', 21);
      await waitUntil(() => sleepers(mine), (v) => v.length === 2);
      const r = await init.collect(21);
      expect(r.exit.signal).toBe(9);
      expect(await waitUntil(() => sleepers(mine), (v) => v.length === 0)).toEqual([]);
      expect(await sleepers(other)).toHaveLength(1);
    } finally {
      await killAll(mine);
      await killAll(other);
    }
  });
});
