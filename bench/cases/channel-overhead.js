/**
 * Diagnostic: the daemon-side cost of one exec round trip through the channel code alone.
 * A scripted init answers STARTED and EXIT at once over in-memory streams, so no process
 * runs: what is left is the codec, InitChannel and the lifecycle helper.
 */
import { PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { importAgentd } from '../lib/paths.js';

const { encodeMessage, FrameDecoder, InitChannel, PROTOCOL_VERSION, runCommand } = await importAgentd('channel/index.js');

export async function channelOverheadUs({ n, warmup }) {
  const toInit = new PassThrough();
  const fromInit = new PassThrough();
  const dec = new FrameDecoder('daemon');
  toInit.on('data', (chunk) => {
    for (const m of dec.push(chunk)) {
      if (m.type !== 'EXEC') continue;
      fromInit.write(Buffer.concat([
        encodeMessage({ type: 'STARTED', id: m.id, pid: 3, shepherd: 2 }),
        encodeMessage({ type: 'EXIT', id: m.id, exitCode: 0, signal: 0, maxRssKib: 1, userUsec: 1, sysUsec: 1 }),
      ]));
    }
  });
  const ch = new InitChannel(toInit, fromInit);
  fromInit.write(encodeMessage({ type: 'READY', id: 0, protocolVersion: PROTOCOL_VERSION, pid: 1, version: 'bench' }));
  await ch.ready;
  const env = { PATH: '/usr/bin:/bin', HOME: '/home/agent', LANG: 'C.UTF-8' };
  for (let i = 0; i < warmup; i++) await runCommand(ch, { argv: ['true'], env });
  const t = performance.now();
  for (let i = 0; i < n; i++) await runCommand(ch, { argv: ['true'], env });
  const us = ((performance.now() - t) / n) * 1000;
  fromInit.end();
  toInit.end();
  return us;
}
