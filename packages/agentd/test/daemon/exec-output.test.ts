/**
 * Non-streamed exec output is bounded per exec and across concurrent execs (issue 9, item 8):
 * never the daemon's memory, never a 500. Real commands, real output sizes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { binaryFrames, startTestDaemon, type TestDaemon } from './harness.js';

const MiB = 1024 * 1024;

describe('exec output bounds', () => {
  let d: TestDaemon;
  let sbx: string;
  beforeAll(async () => {
    d = await startTestDaemon({ limits: { max_output_bytes: 512 * MiB, max_buffered_output_bytes: 8 * MiB } });
    sbx = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id as string;
  });
  afterAll(async () => d.close());

  test('a non-streamed exec asking to keep more than a JSON answer can hold is refused up front (400), before anything runs', async () => {
    const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'touch /workspace/ran', max_output_bytes: 1024 * MiB } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_ARGUMENT');
    expect(r.body.error.message).toContain('stream the output');
    const ran = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'test -e /workspace/ran; echo $?' } });
    expect(ran.body.stdout).toBe('1\n');
  });

  test('a streamed exec may go past 64 MiB (nothing is buffered)', async () => {
    const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec?stream=1`, {
      body: { command: `head -c ${80 * MiB} /dev/zero`, max_output_bytes: 128 * MiB },
      headers: { accept: 'application/vnd.agentd.exec-frames' },
    });
    expect(r.status).toBe(200);
    const frames = binaryFrames(r.bytes);
    expect(frames.filter((f) => f.type === 'stdout').reduce((n, f) => n + (f.bytes?.length ?? 0), 0)).toBe(80 * MiB);
    expect(frames.at(-1)).toMatchObject({ type: 'exit', exit_code: 0 });
  }, 120_000);

  test('concurrent execs share the daemon-wide budget: the overflow is dropped and counted, never a 500', async () => {
    // 4 x 4 MiB held at once against an 8 MiB budget (each holds its output until it exits).
    const runs = await Promise.all(Array.from({ length: 4 }, () => d.call('POST', `/v1/sandboxes/${sbx}/exec`, {
      body: { command: `head -c ${4 * MiB} /dev/zero | tr '\\0' y; sleep 3`, timeout_ms: 60_000 },
    })));
    let kept = 0;
    for (const r of runs) {
      expect(r.status, r.text.slice(0, 200)).toBe(200);
      expect(r.body.exit_code).toBe(0);
      const got = (r.body.stdout as string).length;
      kept += got;
      expect(got + r.body.output_dropped_bytes).toBe(4 * MiB);
      expect(r.body.output_truncated).toBe(r.body.output_dropped_bytes > 0);
    }
    expect(kept).toBeLessThanOrEqual(8 * MiB);
    expect(runs.some((r) => r.body.output_truncated === true)).toBe(true);
    // All of it was given back: one exec alone gets its whole output again.
    const alone = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: `head -c ${4 * MiB} /dev/zero | tr '\\0' y` } });
    expect(alone.body.stdout.length).toBe(4 * MiB);
    expect(alone.body.output_truncated).toBe(false);
    expect(alone.body.output_dropped_bytes).toBe(0);
  }, 120_000);
});

describe('the largest output a result may keep', () => {
  test('64 MiB of control bytes comes back whole (the JSON answer is 6 times that), one byte more is dropped and counted, under a larger daemon cap', async () => {
    // The daemon's cap is for streams; a non-streamed result keeps at most 64 MiB of it.
    const d = await startTestDaemon({ limits: { max_output_bytes: 1024 * MiB } });
    try {
      const sbx = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id as string;
      const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, {
        body: { command: `head -c ${64 * MiB + 1} /dev/zero`, timeout_ms: 120_000 },
      });
      expect(r.status, r.text.slice(0, 200)).toBe(200);
      expect(r.body.stdout.length).toBe(64 * MiB);
      expect(r.body.output_truncated).toBe(true);
      expect(r.body.output_dropped_bytes).toBe(1);
    } finally {
      await d.close();
    }
  }, 180_000);
});
