import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createNamespaceBackend } from '../../src/isolation/namespace/backend.js';
import { recoverAtStart, type RecoveryBackends } from '../../src/runtime/recovery.js';
import { openStateStore, type StateStore } from '../../src/state/index.js';
import { silentLogger } from '../../src/util/logger.js';
import { exitOf, isolatedDriver, spawnInCgroup } from '../cgroup/helpers.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('start-up recovery (root only: it needs real cgroups)', () => {
  let home: string;
  let store: StateStore;
  const { driver, teardown } = isolatedDriver();

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'agentd-recovery-'));
    store = openStateStore({ home });
  });
  afterAll(async () => {
    store.close();
    await teardown();
    await rm(home, { recursive: true, force: true });
  });

  test("kills and removes this home's leftover sandbox cgroups, and only those", async () => {
    // One leftover of this home (its folder is here, as for a warm-pool sandbox), one of another daemon's.
    await mkdir(join(home, 'sandboxes', 'sbx_ourleftover0000', 'workspace'), { recursive: true });
    const ours = await driver.create('sbx_ourleftover0000');
    const foreign = await driver.create('sbx_someoneelses000');
    const oursProc = spawnInCgroup(ours.procsFiles, ['sleep', '300']);
    const foreignProc = spawnInCgroup(foreign.procsFiles, ['sleep', '300']);
    try {
      await new Promise((r) => setTimeout(r, 200));
      // The namespace backend with its sandboxes' cgroups under the test's own parent: its recover() cleans them.
      const namespace = createNamespaceBackend({ initPath: '/nonexistent/agentd-init', logger: silentLogger, options: { cgroup_parent: driver.parent } });
      const backends: RecoveryBackends = { all: () => [namespace], byName: () => namespace };
      const result = await recoverAtStart(store, home, backends, silentLogger);
      expect(result.orphanCgroups).toEqual(['sbx_ourleftover0000']);
      expect(result.orphanDirs).toEqual(['sbx_ourleftover0000']);
      expect((await exitOf(oursProc)).signal).toBe('SIGKILL');
      expect(await driver.list()).toEqual(['sbx_someoneelses000']);
      expect(foreignProc.exitCode).toBeNull();
      expect(await foreign.pids()).toHaveLength(1);
    } finally {
      foreignProc.kill('SIGKILL');
      await foreign.killAll();
      await foreign.remove();
    }
  });
});
