#!/usr/bin/env node
/**
 * Host-side latency while a bomb runs in a sandbox with the default limits (issue 9, item 10).
 * Root only (cgroups, loop volumes). Needs `npm run build` and gcc. Not a test: it measures.
 *
 *   node bench/bombs.js [--seconds=S] [--profile=paranoid|workstation|server|custom]
 *
 * One daemon in this process (built code, namespace backend, the workstation config) with a
 * neighbour sandbox (workstation defaults). For each scenario (none, memory, fork, disk, inode,
 * cpu) a bomb sandbox of the chosen profile's defaults (request `{profile}` only) runs the bomb
 * for S seconds (default 12) while this process times, alternately, `exec true` in the
 * neighbour (REST over the Unix socket) and a host `/bin/true` (child_process.spawn to close).
 * Prints a markdown table (p50/p90/max ms) and writes bench/results/bombs-PROFILE.json.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadavg, machineInfo } from './lib/machine.js';
import { PATHS, importAgentd } from './lib/paths.js';
import { summarize } from './lib/stats.js';

const arg = (name, dflt) => process.argv.slice(2).find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt;
const SECONDS = Number(arg('seconds', '12'));
const PROFILE = arg('profile', 'paranoid');

if (process.getuid?.() !== 0) {
  console.error('bench/bombs.js needs root (cgroup limits, loop-mounted volumes)');
  process.exit(2);
}

const { parseConfig } = await importAgentd('config/parse.js');
const { startDaemon } = await importAgentd('runtime/daemon.js');

const home = mkdtempSync(join(tmpdir(), 'agentd-bombs-'));
chmodSync(home, 0o711);
const socket = join(home, 'agentd.sock');
const fixtures = mkdtempSync(join(tmpdir(), 'agentd-bomb-fixtures-'));
for (const name of ['alloc', 'fork-bomb']) {
  execFileSync('gcc', ['-O1', '-o', join(fixtures, name), join(PATHS.root, 'packages/agentd/test/fixtures', `${name}.c`)]);
}

function call(method, path, body, raw) {
  const payload = raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: payload ? { 'content-type': raw ? 'application/octet-stream' : 'application/json', 'content-length': payload.length } : {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode, body: text && (res.headers['content-type'] ?? '').includes('json') ? JSON.parse(text) : text });
      });
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

const hostTrue = () =>
  new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn('/bin/true', [], { stdio: 'ignore' });
    c.on('error', reject);
    c.on('close', () => resolve(performance.now() - t0));
  });

async function execTrue(id) {
  const t0 = performance.now();
  const r = await call('POST', `/v1/sandboxes/${id}/exec`, { argv: ['true'] });
  if (r.status !== 200 || r.body.exit_code !== 0) throw new Error(`exec true in the neighbour failed: ${JSON.stringify(r.body)}`);
  return performance.now() - t0;
}

const SCENARIOS = {
  none: null,
  memory: { upload: 'alloc', command: 'while true; do /workspace/alloc 100000 >/dev/null 2>&1; done' },
  fork: { upload: 'fork-bomb', command: '/workspace/fork-bomb' },
  disk: { command: 'while true; do dd if=/dev/zero of=/workspace/fill bs=1M 2>/dev/null; rm -f /workspace/fill; done' },
  inode: { command: 'cd /workspace; while true; do mkdir -p d && cd d && i=0; while true 2>/dev/null > f$i; do i=$((i+1)); done; cd .. && rm -rf d; done' },
  cpu: { command: 'for i in 1 2 3 4 5 6 7 8; do (while :; do :; done) & done; wait' },
};

const config = parseConfig({
  home,
  isolation: { backend: 'namespace', backends: { namespace: { cgroup_parent: `agentd-bench-bombs-${process.pid}` } } },
  adapters: { http: { enabled: false }, unix: { path: socket } },
  log: { level: 'error' },
}, {}, {});
const daemon = await startDaemon(config, { stopGraceMs: 500 });
const results = { date: new Date().toISOString(), machine: machineInfo(), load_at_start: loadavg(), profile: PROFILE, seconds: SECONDS, scenarios: {} };
try {
  const neighbour = (await call('POST', '/v1/sandboxes', {})).body.id;
  for (let i = 0; i < 20; i++) await execTrue(neighbour); // warm up
  for (const [name, bomb] of Object.entries(SCENARIOS)) {
    let bombId;
    let running;
    if (bomb) {
      const created = await call('POST', '/v1/sandboxes', PROFILE === 'workstation' ? {} : { profile: PROFILE });
      if (created.status !== 201) throw new Error(`create failed: ${JSON.stringify(created.body)}`);
      bombId = created.body.id;
      if (bomb.upload) {
        await call('PUT', `/v1/sandboxes/${bombId}/files?path=/workspace/${bomb.upload}`, undefined, readFileSync(join(fixtures, bomb.upload)));
        await call('POST', `/v1/sandboxes/${bombId}/exec`, { argv: ['chmod', '755', `/workspace/${bomb.upload}`] });
      }
      running = call('POST', `/v1/sandboxes/${bombId}/exec`, { command: bomb.command, timeout_ms: (SECONDS + 8) * 1000 });
      await new Promise((r) => setTimeout(r, 1500)); // let it reach its limit
    }
    const exec = [];
    const host = [];
    const until = performance.now() + SECONDS * 1000;
    while (performance.now() < until) {
      exec.push(await execTrue(neighbour));
      host.push(await hostTrue());
    }
    const load = loadavg();
    let bombResult;
    if (bomb) {
      const usage = await call('GET', `/v1/sandboxes/${bombId}`);
      await call('DELETE', `/v1/sandboxes/${bombId}`);
      const r = await running;
      // The bomb's exec ends with the DELETE (its answer is an error): what counts is its usage at its limits.
      bombResult = { usage_before_delete: usage.body.usage, exec_answer_status: r.status };
    }
    results.scenarios[name] = { exec_true_in_neighbour: summarize(exec), host_spawn_true: summarize(host), load_after: load, bomb: bombResult };
    console.error(`${name}: exec true p50 ${summarize(exec).p50_ms} ms, host true p50 ${summarize(host).p50_ms} ms`);
  }
} finally {
  await daemon.close();
  rmSync(home, { recursive: true, force: true });
  rmSync(fixtures, { recursive: true, force: true });
}

mkdirSync(PATHS.results, { recursive: true });
writeFileSync(join(PATHS.results, `bombs-${PROFILE}.json`), `${JSON.stringify(results, null, 2)}\n`);
const rows = Object.entries(results.scenarios).map(([name, s]) =>
  `| ${name} | ${s.exec_true_in_neighbour.n} | ${s.exec_true_in_neighbour.p50_ms} | ${s.exec_true_in_neighbour.p90_ms} | ${s.exec_true_in_neighbour.max_ms} | ${s.host_spawn_true.p50_ms} | ${s.host_spawn_true.p90_ms} | ${s.host_spawn_true.max_ms} | ${s.load_after.join(' ')} |`);
console.log(`bombs in a '${PROFILE}' sandbox with its default limits, ${SECONDS} s each; load at start ${results.load_at_start.join(' ')}; ${results.machine.cores} cores\n`);
console.log('| bomb | n | exec true p50 | p90 | max | host /bin/true p50 | p90 | max | load after |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
