/**
 * Interactive cases (issue 11): a byte typed into a terminal and its echo read back, through
 * the commands WebSocket (`pty_echo_rtt`) and through a local pty pair on the host
 * (`local_pty_echo_rtt`); and reattaching to a running command until its next byte arrives
 * (`reattach_latency`), next to `GET /healthz` from the same client in the same loop.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { PATHS } from '../lib/paths.js';

// `ws` is the daemon package's dependency (the CLI's WebSocket client too).
const WebSocket = createRequire(`${PATHS.agentdDist}index.js`)('ws');

/**
 * A terminal in the sandbox running `cat` (canonical mode, echo on: the line discipline
 * echoes each typed byte, as for a person typing). `typeOne()` sends one byte and resolves
 * when its echo is back.
 */
export async function openPtyEcho(daemon, sbx) {
  const url = `${daemon.url.replace(/^http/, 'ws')}/v1/sandboxes/${sbx.id}/commands/connect`;
  const ws = new WebSocket(url, { headers: daemon.authHeaders(), perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`bench: WebSocket upgrade refused: ${res.statusCode}`)));
  });
  let waiting;
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const m = JSON.parse(data.toString());
      if (m.type === 'started') waiting?.();
      if (m.type === 'error' || m.type === 'exit') waiting?.(new Error(`bench: pty: ${data.toString()}`));
      return;
    }
    waiting?.();
  });
  const next = () => new Promise((resolve, reject) => {
    waiting = (err) => {
      waiting = undefined;
      if (err) reject(err);
      else resolve();
    };
  });
  const started = next();
  ws.send(JSON.stringify({ type: 'start', argv: ['cat'], pty: { rows: 24, cols: 80 }, keep_alive_on_disconnect: false }));
  await started;
  const byte = Buffer.from('a');
  let typed = 0;
  return {
    async typeOne() {
      const echoed = next();
      ws.send(byte);
      await echoed;
      // A line of 4000 bytes would fill the tty's canonical buffer: end the line now and then (not timed).
      if (++typed % 1000 === 0) {
        const nl = next();
        ws.send(Buffer.from('\r'));
        await nl;
        await new Promise((r) => setTimeout(r, 20));
        waiting = undefined;
      }
    },
    close: () => ws.close(),
  };
}

/**
 * The same through a local pty pair on the host: python3's pty module forks `cat` on a new
 * pty and times, from Python, one byte written to the master until its echo is read back
 * (no Node, no relay in between: the floor of a terminal echo on this machine).
 */
export function localPtyEcho({ n, warmup }) {
  const script = `
import os, pty, time, json, sys
n, warm = int(sys.argv[1]), int(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp('cat', ['cat'])
time.sleep(0.2)
out = []
for i in range(n + warm):
    if i % 1000 == 999:
        os.write(fd, b'\\r'); time.sleep(0.02)
        try:
            os.read(fd, 65536)
        except OSError:
            pass
    t = time.perf_counter()
    os.write(fd, b'a')
    got = os.read(fd, 1)
    ms = (time.perf_counter() - t) * 1000
    if i >= warm: out.append(ms)
os.kill(pid, 9)
print(json.dumps(out))
`;
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, String(n), String(warmup)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bench: local pty helper exited ${code}: ${err}`))));
  });
}

/**
 * A background command writing a byte every half millisecond; `reattachOnce()` connects to
 * it from its current end (an offset past the end starts there) through the SDK and
 * resolves when the next byte arrives, then disconnects.
 */
export async function openReattach(sbx) {
  const info = await sbx.commands.start(['python3', '-c', 'import sys, time\nwhile True:\n    sys.stdout.write("x"); sys.stdout.flush(); time.sleep(0.0005)\n'], {});
  return {
    async reattachOnce() {
      let got;
      const first = new Promise((resolve) => (got = resolve));
      const h = await sbx.commands.connect(info.id, { fromOffset: 1e14, onData: () => got() });
      await first;
      h.disconnect();
      await h.wait().catch(() => undefined);
    },
    close: () => sbx.commands.kill(info.id).catch(() => undefined),
  };
}
