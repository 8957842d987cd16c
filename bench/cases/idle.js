/** ns_idle_500: many idle namespace sandboxes, their memory and the daemon's. */
import { performance } from 'node:perf_hooks';
import { commOf, descendants, memAvailableKib, pssKib, rssKib } from '../lib/procmem.js';
import { sleep } from '../lib/measure.js';
import { createSandbox } from './api.js';

async function pooled(items, concurrency, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

/**
 * Creates `count` sandboxes through the API (`concurrency` at a time), lets them settle,
 * sums the PSS of every process under the daemon (the sandboxes' launchers/bwrap and their
 * agentd-init), reads the daemon's RSS, then destroys them all.
 */
export async function idleMany(daemon, client, { count, concurrency, settleMs }) {
  const sandboxes = new Array(count);
  const latencies = [];
  const availBefore = memAvailableKib();
  const t0 = performance.now();
  await pooled([...Array(count).keys()], concurrency, async (i) => {
    const t = performance.now();
    sandboxes[i] = await createSandbox(client);
    latencies.push(performance.now() - t);
  });
  const createAllS = (performance.now() - t0) / 1000;
  await sleep(settleMs);

  const pids = descendants(daemon.pid);
  const byComm = {};
  let totalKib = 0;
  for (const pid of pids) {
    const kib = pssKib(pid);
    if (kib === undefined) continue;
    totalKib += kib;
    const comm = commOf(pid);
    byComm[comm] ??= { processes: 0, pss_kib: 0 };
    byComm[comm].processes++;
    byComm[comm].pss_kib += kib;
  }
  const daemonRssKib = rssKib(daemon.pid);
  // Whole-system view (kernel memory too: namespaces, page tables, cgroups), noisy when other work runs.
  const availDropKib = availBefore - memAvailableKib();
  const daemonPssKib = pssKib(daemon.pid);

  const alive = (await client.listSandboxes()).filter((s) => s.state === 'running').length;
  if (alive < count) throw new Error(`ns_idle_500: only ${alive} of ${count} sandboxes are running after the settle time`);

  const t1 = performance.now();
  await pooled(sandboxes, concurrency, (s) => s.destroy());
  const destroyAllS = (performance.now() - t1) / 1000;
  return {
    latencies,
    count,
    processes: pids.length,
    mib: totalKib / 1024,
    pss_per_sandbox_mib: totalKib / 1024 / count,
    daemon_rss_mib: daemonRssKib / 1024,
    daemon_pss_mib: (daemonPssKib ?? 0) / 1024,
    create_all_s: createAllS,
    destroy_all_s: destroyAllS,
    memavailable_drop_mib: availDropKib / 1024,
    by_process: byComm,
  };
}
