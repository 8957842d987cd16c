/**
 * The daemon-side cost of one exec round trip (no process: a scripted init answers STARTED and
 * EXIT at once), to see what the channel code itself adds to exec latency.
 * Run: npx rolldown bench/scratch-channel-overhead.ts --platform node --format esm -o /tmp/chover.mjs && node /tmp/chover.mjs
 */
import { PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { encodeMessage, FrameDecoder, InitChannel, runCommand, type DaemonMessage } from '../packages/agentd/src/channel/index.js';

const toInit = new PassThrough();
const fromInit = new PassThrough();
const dec = new FrameDecoder<DaemonMessage>('daemon');
toInit.on('data', (chunk: Buffer) => {
  for (const m of dec.push(chunk)) {
    if (m.type !== 'EXEC') continue;
    fromInit.write(Buffer.concat([
      encodeMessage({ type: 'STARTED', id: m.id, pid: 2 }),
      encodeMessage({ type: 'EXIT', id: m.id, exitCode: 0, signal: 0, maxRssKib: 1, userUsec: 1, sysUsec: 1 }),
    ]));
  }
});
const ch = new InitChannel(toInit, fromInit);
fromInit.write(encodeMessage({ type: 'READY', id: 0, protocolVersion: 1, pid: 1, version: 'bench' }));
await ch.ready;
const env = { PATH: '/usr/bin:/bin', HOME: '/root', LANG: 'C.UTF-8' };
for (let i = 0; i < 2000; i++) await runCommand(ch, { argv: ['true'], env });
const N = 20000;
const t = performance.now();
for (let i = 0; i < N; i++) await runCommand(ch, { argv: ['true'], env });
console.log(`runCommand round trip through the channel code: ${(((performance.now() - t) / N) * 1000).toFixed(1)} µs`);
fromInit.end();
