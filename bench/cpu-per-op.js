#!/usr/bin/env node
/**
 * The daemon's own CPU time per operation: `node bench/cpu-per-op.js [N]` starts `agentd serve`
 * with the bench config, then runs N sequential GET /healthz, N execs of `true` on one namespace
 * sandbox, and reads the daemon's utime+stime (/proc/PID/stat) and this client's own CPU around each batch. Less disturbed
 * by load than wall time: a diagnostic for profiling, not a bench case.
 */
import { readFileSync } from 'node:fs';
import { benchConfig } from './lib/config.js';
import { startDaemon } from './lib/daemon.js';
import { clientFor, createSandbox, execTrue } from './cases/api.js';

const n = Number(process.argv[2] ?? 1000);
const ticks = 100; // USER_HZ
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / ticks;
}
const nodeArgs = process.env.CPU_PER_OP_NODE_ARGS ? process.env.CPU_PER_OP_NODE_ARGS.split(' ') : [];
const daemon = await startDaemon({ name: 'cpu', config: benchConfig({ cgroupParent: `agentd-bench-cpu-${process.pid}` }), nodeArgs });
if (process.env.CPU_PER_OP_PID_FILE) (await import('node:fs')).writeFileSync(process.env.CPU_PER_OP_PID_FILE, String(daemon.pid));
try {
  const client = clientFor(daemon);
  const sbx = await createSandbox(client);
  const healthz = () => fetch(`${daemon.url}/healthz`).then((r) => r.arrayBuffer());
  for (let i = 0; i < 200; i++) { await healthz(); await execTrue(sbx); }
  const measure = async (label, fn) => {
    const c0 = cpuMs(daemon.pid), t0 = performance.now(), ownStart = process.cpuUsage();
    for (let i = 0; i < n; i++) await fn();
    const cpu = (cpuMs(daemon.pid) - c0) / n, wall = (performance.now() - t0) / n;
    const own = process.cpuUsage(ownStart);
    console.log(`${label}: daemon CPU ${(cpu * 1000).toFixed(0)} us/op, client (this process) CPU ${((own.user + own.system) / n).toFixed(0)} us/op, wall ${(wall * 1000).toFixed(0)} us/op`);
  };
  await measure('healthz', healthz);
  await measure('exec true', () => execTrue(sbx));
  await measure('healthz', healthz);
  await measure('exec true', () => execTrue(sbx));
  await sbx.destroy();
} finally {
  await daemon.stop();
}
