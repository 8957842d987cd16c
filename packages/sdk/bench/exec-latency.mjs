#!/usr/bin/env node
/**
 * Exec latency of `true` in a warm sandbox through the REST API, with the SDK client in
 * another process, next to Node's own spawn('/bin/true') in that same client process.
 * Needs the build: `make -C packages/agentd/native && npx tsc -b packages/sdk packages/agentd`.
 *
 *   node packages/sdk/bench/exec-latency.mjs [runs=200]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = (p) => join(here, '../../agentd/dist', p);

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function p95(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))];
}

async function client(url, id, runs) {
  const { AgentdClient } = await import(join(here, '../dist/index.js'));
  const c = new AgentdClient({ baseUrl: url });
  const spawnTrue = () =>
    new Promise((resolve, reject) => {
      const child = spawn('/bin/true', { stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', resolve);
    });
  const measure = async (fn) => {
    for (let i = 0; i < 20; i++) await fn();
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await fn();
      times.push(performance.now() - t);
    }
    return { median_ms: +median(times).toFixed(3), p95_ms: +p95(times).toFixed(3) };
  };
  const api = await measure(async () => {
    const r = await c.exec(id, ['true']);
    if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode}`);
  });
  const apiStream = await measure(() => c.execStream(id, ['true']).wait());
  const local = await measure(spawnTrue);
  process.stdout.write(JSON.stringify({ runs, sdk_exec_json: api, sdk_exec_stream: apiStream, node_spawn_true: local }));
}

async function main(runs) {
  const { parseConfig } = await import(dist('config/index.js'));
  const { startDaemon } = await import(dist('runtime/daemon.js'));
  const { CgroupDriver } = await import(dist('isolation/cgroup/index.js'));
  const home = mkdtempSync(join(tmpdir(), 'agentd-bench-'));
  chmodSync(home, 0o711);
  const cgroupParent = `agentd-bench-${randomBytes(4).toString('hex')}`;
  const config = parseConfig(
    {
      home,
      profile: 'workstation',
      isolation: { backend: 'auto', backends: { namespace: { cgroup_parent: cgroupParent } } },
      adapters: { http: { enabled: true, listen: '127.0.0.1:0' }, unix: { enabled: false } },
    },
    {},
  );
  const daemon = await startDaemon(config);
  // The SDK (here and in the client process) finds the daemon's local token through AGENTD_HOME.
  process.env.AGENTD_HOME = home;
  try {
    const { AgentdClient } = await import(join(here, '../dist/index.js'));
    const c = new AgentdClient({ baseUrl: daemon.address });
    const sbx = await c.createSandbox({});
    try {
      const out = await new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--client', daemon.address, sbx.id, String(runs)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        child.stdout.on('data', (d) => (text += d));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`client exited ${code}`))));
      });
      console.log(JSON.stringify({ backend: daemon.backend, ...JSON.parse(out) }, null, 2));
    } finally {
      await c.destroySandbox(sbx.id);
    }
  } finally {
    await daemon.close();
    await new CgroupDriver({ parent: cgroupParent }).removeParent().catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args[0] === '--client') await client(args[1], args[2], Number(args[3]));
else await main(Number(args[0] ?? 200));
