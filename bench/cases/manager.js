/**
 * Diagnostic: acquiring from a warm pool with the daemon's SandboxManager in this process
 * (real namespace backend, real SQLite state, no HTTP), to split ns_acquire_pool into the
 * manager's own cost and the API's.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, timed } from '../lib/measure.js';
import { importAgentd, PATHS } from '../lib/paths.js';

const [{ createBuiltinRegistry }, { DaemonBackends }, { openStateStore }, { SandboxManager }, { silentLogger }] = await Promise.all([
  importAgentd('isolation/builtins.js'),
  importAgentd('runtime/backends.js'),
  importAgentd('state/store.js'),
  importAgentd('sandbox/manager.js'),
  importAgentd('util/logger.js'),
]);

export async function acquireInProcess({ cgroupParent, n, warmup, poolSize }) {
  const home = mkdtempSync(join(tmpdir(), 'agentd-bench-manager-'));
  chmodSync(home, 0o711);
  const backends = new DaemonBackends({
    registry: createBuiltinRegistry(), initPath: PATHS.init, options: { namespace: { cgroup_parent: cgroupParent } },
    profile: 'workstation', requireKernel: false, logger: silentLogger,
  });
  await backends.probeAll();
  const store = openStateStore({ home, logger: silentLogger });
  const manager = new SandboxManager(
    {
      home, defaultProfile: 'workstation', maxSandboxes: poolSize + 4, sweepIntervalMs: 1000,
      profileDefaults: () => ({ backend: 'namespace', network: 'none', limits: { pids: 4096 }, env: {} }),
      pool: { minWarm: poolSize, maxWarm: poolSize, ttlMs: 3_600_000 },
    },
    { store, backends, logger: silentLogger },
  );
  const samples = [];
  try {
    manager.startPool();
    for (let i = 0; i < warmup + n; i++) {
      const deadline = Date.now() + 60_000;
      while (manager.stats().poolSize < poolSize) {
        if (Date.now() > deadline) throw new Error(`the in-process pool did not refill to ${poolSize} within 60 s`);
        await sleep(10);
      }
      await sleep(50); // as for ns_acquire_pool: let the fill that just ended settle
      let record;
      const ms = await timed(async () => {
        ({ record } = await manager.create('default', {}));
      });
      if (i >= warmup) samples.push(ms);
      await manager.destroy('default', record.id);
    }
  } finally {
    await manager.close();
    store.close();
    rmSync(home, { recursive: true, force: true });
  }
  return samples;
}
