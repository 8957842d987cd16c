/** Cases through the REST API: the SDK client in this process, the daemon in a child process. */
import { PATHS } from '../lib/paths.js';
import { sleep, timed } from '../lib/measure.js';

const { AgentdClient, Sandbox } = await import(PATHS.sdk);

export function clientFor(daemon) {
  // No retries: a failed request must fail the bench, not be hidden in a latency.
  return new AgentdClient({ baseUrl: daemon.url, retry: false, localTokenFile: daemon.tokenFile });
}

export async function createSandbox(client, spec = {}) {
  return Sandbox.create({ client, ...spec });
}

/** `true` in the sandbox, awaited to its result. */
export async function execTrue(sbx) {
  const r = await sbx.exec(['true']);
  if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode} in ${sbx.id}`);
}

/**
 * Streams `bytes` of stdout from the sandbox to this process, counting the chunks and
 * dropping them as the pipe baseline's reader does (`keepOutput: false`; with `keepOutput`
 * the SDK also keeps all 256 MiB for the result, the `_keep_output` diagnostic); resolves
 * to the bytes received.
 */
export async function streamZeros(sbx, bytes, { keepOutput = false } = {}) {
  let n = 0;
  const stream = sbx.exec.stream(['head', '-c', String(bytes), '/dev/zero'], { maxOutputBytes: bytes, timeoutMs: 600_000, keepOutput });
  let result;
  for await (const chunk of stream) {
    if (chunk.type === 'stdout') n += chunk.bytes.length;
    else if (chunk.type === 'exit') result = chunk.result;
  }
  if (result?.exitCode !== 0 || n !== bytes) throw new Error(`stream: exit ${result?.exitCode}, ${n} of ${bytes} bytes`);
  return n;
}

/** One cold create (timed) and its destroy (not timed). */
export async function createColdOnce(client) {
  let sbx;
  const ms = await timed(async () => {
    sbx = await createSandbox(client);
  });
  await sbx.destroy();
  return ms;
}

/** The daemon's warm pool size, from its Prometheus metrics. */
export async function poolSize(daemon) {
  const res = await fetch(`${daemon.url}/metrics`);
  const text = await res.text();
  const m = /^agentd_pool_size\s+(\d+)/m.exec(text);
  if (!m) throw new Error('bench: /metrics has no agentd_pool_size');
  return Number(m[1]);
}

/** Waits until the pool holds `size` warm sandboxes (fills run in the background). */
export async function waitPoolFull(daemon, size, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while ((await poolSize(daemon)) < size) {
    if (Date.now() > deadline) throw new Error(`bench: the warm pool did not reach ${size} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** The daemon's own time (ms, whole numbers) for its last `n` successful `action`s, from its audit log. */
export async function auditDurations(client, action, n) {
  const events = await client.audit({ limit: 1000 });
  return events
    .filter((e) => e.action === action && e.status === 'ok')
    .slice(0, n)
    .map((e) => e.durationMs);
}

/**
 * Diagnostic: the same 256 MiB exec stream, in the binary frames the SDK asks for, read by
 * plain fetch to its end, bytes counted and not parsed, to separate the daemon's side from
 * the SDK's.
 */
export async function streamZerosRaw(daemon, sbx, bytes) {
  const res = await fetch(`${daemon.url}/v1/sandboxes/${encodeURIComponent(sbx.id)}/exec?stream=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/vnd.agentd.exec-frames', ...daemon.authHeaders() },
    body: JSON.stringify({ argv: ['head', '-c', String(bytes), '/dev/zero'], max_output_bytes: bytes, timeout_ms: 600_000 }),
  });
  if (!res.ok || res.body === null) throw new Error(`raw stream: HTTP ${res.status}`);
  let wire = 0;
  let tail = '';
  for await (const chunk of res.body) {
    wire += chunk.length;
    tail = (tail + Buffer.from(chunk.subarray(Math.max(0, chunk.length - 512))).toString('latin1')).slice(-512);
  }
  if (!tail.includes('"type":"exit"') || !tail.includes('"exit_code":0')) throw new Error(`raw stream: no successful exit frame at the end: ${tail.slice(-200)}`);
  return wire;
}
