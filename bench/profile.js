#!/usr/bin/env node
/**
 * Profiles the daemon under one bench workload: `node bench/profile.js WORKLOAD [N]`, with
 * WORKLOAD one of exec, create, acquire, stream, throughput. Starts `agentd serve` with
 * --cpu-prof, runs the workload from this process, stops the daemon, and prints the
 * functions with the most self time (the .cpuprofile stays in bench/results/profiles/ for
 * a flame graph in Chrome DevTools or speedscope).
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchConfig } from './lib/config.js';
import { topSelfTime } from './lib/cpuprofile.js';
import { startDaemon } from './lib/daemon.js';
import { closedLoop, sleep, timed } from './lib/measure.js';
import { PATHS } from './lib/paths.js';
import { clientFor, createSandbox, execTrue, waitPoolFull } from './cases/api.js';

const [workload = 'exec', nArg] = process.argv.slice(2);
const WORKLOADS = ['exec', 'create', 'acquire', 'stream', 'throughput'];
if (!WORKLOADS.includes(workload)) {
  console.error(`usage: node bench/profile.js ${WORKLOADS.join('|')} [N]`);
  process.exit(2);
}
const dir = join(PATHS.results, 'profiles');
mkdirSync(dir, { recursive: true });
const name = `${workload}-${Date.now()}`;
const pool = workload === 'acquire' ? { minWarm: 2, maxWarm: 2 } : undefined;
const daemon = await startDaemon({
  name: `prof-${workload}`,
  config: benchConfig({ cgroupParent: `agentd-bench-prof-${process.pid}`, ...(pool ? { pool } : {}) }),
  nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`],
});
const client = clientFor(daemon);
const t0 = performance.now();
const times = [];
try {
  if (workload === 'exec' || workload === 'throughput' || workload === 'stream') {
    const sbx = await createSandbox(client);
    if (workload === 'exec') for (let i = 0; i < Number(nArg ?? 2000); i++) times.push(await timed(() => execTrue(sbx)));
    if (workload === 'throughput') console.log(`per_s ${(await closedLoop(() => execTrue(sbx), { concurrency: 16, durationMs: Number(nArg ?? 5000) })).perS.toFixed(0)}`);
    if (workload === 'stream') {
      // Raw fetch read to the end, so only the daemon's side is measured here.
      const bytes = Number(nArg ?? 256) * 1024 * 1024;
      times.push(await timed(async () => {
        const res = await fetch(`${daemon.url}/v1/sandboxes/${sbx.id}/exec?stream=1`, {
          method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/x-ndjson', ...daemon.authHeaders() },
          body: JSON.stringify({ argv: ['head', '-c', String(bytes), '/dev/zero'], max_output_bytes: bytes }),
        });
        let n = 0;
        for await (const chunk of res.body) n += chunk.length;
        console.log(`stream: ${n} bytes of NDJSON`);
      }));
    }
    await sbx.destroy();
  } else if (workload === 'create') {
    for (let i = 0; i < Number(nArg ?? 100); i++) {
      let sbx;
      times.push(await timed(async () => (sbx = await createSandbox(client))));
      await sbx.destroy();
    }
  } else {
    for (let i = 0; i < Number(nArg ?? 50); i++) {
      await waitPoolFull(daemon, pool.minWarm);
      await sleep(50);
      let sbx;
      times.push(await timed(async () => (sbx = await createSandbox(client))));
      await sbx.destroy();
    }
  }
} finally {
  const exit = await daemon.stop();
  if (exit.signal === 'SIGKILL') console.error('profile: the daemon had to be killed: no profile written');
}
const wall = performance.now() - t0;
if (times.length > 0) {
  const s = [...times].sort((a, b) => a - b);
  console.log(`${workload}: n=${s.length} p50 ${s[Math.floor(s.length / 2)].toFixed(2)} ms, min ${s[0].toFixed(2)} ms, wall ${wall.toFixed(0)} ms`);
}
const file = readdirSync(dir).find((f) => f === `${name}.cpuprofile`);
if (file) {
  const top = topSelfTime(join(dir, file), 30);
  console.log(`daemon CPU busy ${top.busyMs.toFixed(0)} ms of ${top.totalMs.toFixed(0)} ms profiled; ${join(dir, file)}`);
  for (const r of top.rows) console.log(`${r.ms.toFixed(0).padStart(7)} ms ${r.pctBusy.toFixed(1).padStart(5)}%  ${r.fn}`);
}
