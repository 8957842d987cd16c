/**
 * Median latency of `true` through a live agentd-init channel vs Node's own spawn('/bin/true').
 * Run: npx rolldown bench/scratch-channel-latency.ts --platform node --format esm -o /tmp/chlat.mjs && AGENTD_INIT_PATH=$PWD/packages/agentd/native/build/agentd-init node /tmp/chlat.mjs
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCommand, spawnInit } from '../packages/agentd/src/channel/index.js';
import { nativePaths } from '../packages/agentd/src/native-paths.js';

const N = Number(process.env.N ?? 300);
const env = { PATH: '/usr/local/bin:/usr/bin:/bin' };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length * p)] as number;
}

async function nodeSpawn(): Promise<number> {
  const t = performance.now();
  await new Promise<void>((resolve, reject) => {
    const c = spawn('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.once('error', reject);
    c.once('close', () => resolve());
  });
  return performance.now() - t;
}

const root = mkdtempSync(join(tmpdir(), 'agentd-lat-'));
const { child, channel } = await spawnInit([process.env.AGENTD_INIT_PATH ?? nativePaths().init, '--fs-root', root, '--subreaper'], { cwd: root, env });
try {
  for (let i = 0; i < 20; i++) {
    await runCommand(channel, { argv: ['/bin/true'], env });
    await nodeSpawn();
  }
  const viaChannel: number[] = [];
  const viaRaw: number[] = [];
  const viaNode: number[] = [];
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    await runCommand(channel, { argv: ['/bin/true'], env });
    viaChannel.push(performance.now() - t);
    t = performance.now();
    const h = channel.exec({ argv: ['/bin/true'], env });
    for await (const _ of h.output()) void _;
    await h.exited;
    viaRaw.push(performance.now() - t);
    viaNode.push(await nodeSpawn());
  }
  const fmt = (xs: number[]) => `median ${median(xs).toFixed(3)} ms, min ${Math.min(...xs).toFixed(3)} ms, p10 ${pct(xs, 0.1).toFixed(3)} ms, p90 ${pct(xs, 0.9).toFixed(3)} ms`;
  console.log(`N=${N}`);
  console.log(`runCommand(true) via channel: ${fmt(viaChannel)}`);
  console.log(`exec handle(true) via channel: ${fmt(viaRaw)}`);
  console.log(`node spawn('/bin/true'):      ${fmt(viaNode)}`);
} finally {
  await channel.shutdown();
  child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
