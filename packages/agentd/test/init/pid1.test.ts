/**
 * agentd-init as PID 1 of a pid namespace (how the namespace backends run it): it reaps
 * orphans, ignores termination signals from inside the sandbox, and stops the sandbox
 * on one from outside.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { exec, HAVE_INIT, INIT_PATH, RawInit, waitUntil } from './raw-init.js';

const UNSHARE_ARGS = ['--user', '--map-root-user', '--pid', '--fork', '--mount-proc'];
const canUnshare = spawnSync('unshare', [...UNSHARE_ARGS, 'true']).status === 0;
if (!canUnshare) console.warn('skipping PID 1 tests: `unshare --user --pid` does not work here');

async function startPid1(): Promise<RawInit> {
  const root = await mkdtemp(join(tmpdir(), 'agentd-init-pid1-'));
  const child = spawn('unshare', [...UNSHARE_ARGS, INIT_PATH, '--fs-root', root], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
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

const pid1Test = test.extend<{ init: RawInit }>({
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

describe.skipIf(!HAVE_INIT || !canUnshare)('agentd-init as PID 1', () => {
  pid1Test('reports pid 1, reaps orphans and ignores SIGTERM/SIGINT/SIGHUP sent from inside', async ({ init }) => {
    expect((await init.answer('READY', 0)).pid).toBe(1);
    init.send(exec(1, ['sh', '-c', '(sleep 0.1 &); echo spawned']));
    expect((await init.collect(1)).stdout.toString()).toBe('spawned\n');
    // The orphan (reaped by the exec's shepherd) and the shepherd (reaped by the init) are gone: polled, the machine may be busy.
    let ps = '';
    for (let id = 100; id < 130; id++) {
      await new Promise((r) => setTimeout(r, 100));
      init.send(exec(id, ['ps', '-eo', 'stat=,comm=']));
      ps = (await init.collect(id)).stdout.toString();
      if (!/^Z/m.test(ps) && !ps.includes('sleep')) break;
    }
    expect(ps).not.toMatch(/^Z/m);
    expect(ps).not.toContain('sleep');

    init.send(exec(3, ['sh', '-c', 'kill -TERM 1; kill -INT 1; kill -HUP 1; echo sent']));
    expect((await init.collect(3)).stdout.toString()).toBe('sent\n');
    init.send({ type: 'PING', id: 4 });
    await init.answer('PONG', 4);
    // stderr is its own pipe: its line may arrive after the PONG on stdout.
    await waitUntil(async () => init.stderr, (e) => e.includes('ignoring signal'));
    expect(init.stderr).toContain('ignoring signal');
  });

  pid1Test('stops, killing the sandbox, on SIGTERM from outside', async ({ init }) => {
    await init.answer('READY', 0);
    init.send(exec(1, ['sleep', '3600']));
    await init.answer('STARTED', 1);
    process.kill(await hostPidOfInit(init), 'SIGTERM');
    const { code } = await init.exited;
    // unshare passes on the init's exit status: 128 + SIGTERM.
    expect(code).toBe(143);
  });
});
