/** The bench's own arithmetic: a wrong percentile or target check would misreport every run. */
import { describe, expect, test } from 'vitest';
import { closedLoop, interleaved, sleep } from '../lib/measure.js';
import { percentile, summarize } from '../lib/stats.js';
import { TARGETS, evaluateTargets } from '../lib/targets.js';

describe('stats', () => {
  test('nearest-rank percentiles of 1..100 and of one sample', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(s, 50), percentile(s, 90), percentile(s, 99), percentile(s, 100)]).toEqual([50, 90, 99, 100]);
    expect([percentile([7], 50), percentile([7], 99)]).toEqual([7, 7]);
    expect(() => percentile([], 50)).toThrow(/no samples/);
  });

  test('summarize sorts a copy and reports n, percentiles, min, max and mean', () => {
    const samples = [5, 1, 4, 2, 3];
    expect(summarize(samples)).toEqual({ n: 5, p50_ms: 3, p90_ms: 5, p99_ms: 5, min_ms: 1, max_ms: 5, mean_ms: 3 });
    expect(samples).toEqual([5, 1, 4, 2, 3]);
  });
});

/** A run where every target passes with room to spare. */
function passingCases() {
  return {
    spawn_true: { p50_ms: 10 },
    ns_exec_true: { p50_ms: 5 },
    mcp_exec_true: { p50_ms: 7.5 },
    srt_true: { p50_ms: 200 },
    bwrap_oneshot_true: { p50_ms: 20 },
    ns_create: { p50_ms: 20 },
    ns_acquire_pool: { p50_ms: 0.5 },
    ns_exec_throughput_c16: { per_s: 300 },
    spawn_throughput_c16: { per_s: 100 },
    ns_idle_500: { pss_per_sandbox_mib: 0.2, daemon_rss_mib: 120 },
    ns_stream_256m: { mib_per_s: 200 },
    pipe_256m: { mib_per_s: 300 },
    node_startup: { p50_ms: 40 },
    cli_exec_true: { p50_ms: 50 },
    cli_run_true: { p50_ms: 70 },
  };
}

describe('targets', () => {
  test('a run inside every bound passes all of them, with the ratios computed from the cases', () => {
    const results = evaluateTargets(passingCases());
    expect(results.map((r) => r.status)).toEqual(TARGETS.map(() => 'pass'));
    const byId = Object.fromEntries(results.map((r) => [r.id, r.value]));
    expect(byId).toMatchObject({ exec_vs_spawn: 0.5, mcp_vs_exec: 1.5, srt_vs_exec: 40, bwrap_vs_exec: 4, create_vs_bwrap: 1, acquire_pool: 0.5, throughput: 3, stream_vs_pipe: 0.667, cli_exec_vs_node: 1.25, cli_run_vs_node: 1.75 });
  });

  test.each([
    ['exec_vs_spawn', (c) => (c.spawn_true.p50_ms = 4.99)],
    ['mcp_vs_exec', (c) => (c.mcp_exec_true.p50_ms = 10.01)],
    ['srt_vs_exec', (c) => (c.srt_true.p50_ms = 99)],
    ['bwrap_vs_exec', (c) => (c.bwrap_oneshot_true.p50_ms = 14.9)],
    ['create_vs_bwrap', (c) => (c.ns_create.p50_ms = 30.01)],
    ['acquire_pool', (c) => (c.ns_acquire_pool.p50_ms = 1.01)],
    ['throughput', (c) => (c.ns_exec_throughput_c16.per_s = 99)],
    ['idle_pss', (c) => (c.ns_idle_500.pss_per_sandbox_mib = 1.6)],
    ['idle_daemon_rss', (c) => (c.ns_idle_500.daemon_rss_mib = 201)],
    ['stream_vs_pipe', (c) => (c.ns_stream_256m.mib_per_s = 149)],
    ['cli_exec_vs_node', (c) => (c.cli_exec_true.p50_ms = 60.1)],
    ['cli_run_vs_node', (c) => (c.cli_run_true.p50_ms = 80.1)],
  ])('%s misses just past its bound, and only it', (id, spoil) => {
    const cases = passingCases();
    spoil(cases);
    const results = evaluateTargets(cases);
    expect(results.filter((r) => r.status !== 'pass').map((r) => [r.id, r.status])).toEqual([[id, 'miss']]);
  });

  test('a bound met exactly passes; a target whose case did not run is not_run, never pass', () => {
    const exact = passingCases();
    exact.spawn_true.p50_ms = 5;
    exact.ns_acquire_pool.p50_ms = 1;
    expect(evaluateTargets(exact).filter((r) => r.id === 'exec_vs_spawn' || r.id === 'acquire_pool').map((r) => r.status)).toEqual(['pass', 'pass']);
    const partial = passingCases();
    delete partial.pipe_256m;
    expect(evaluateTargets(partial).find((r) => r.id === 'stream_vs_pipe')).toMatchObject({ status: 'not_run', value: null });
  });
});

describe('sampling', () => {
  test('interleaved rounds rotate the order, sample every case n times and drop the warm-up', async () => {
    const order = [];
    const cases = { a: async () => order.push('a'), b: async () => order.push('b'), c: async () => order.push('c') };
    const samples = await interleaved(cases, { n: 3, warmup: 1 });
    expect(order.join('')).toBe('abc' + 'bca' + 'cab' + 'abc');
    expect(Object.values(samples).map((s) => s.length)).toEqual([3, 3, 3]);
  });

  test('a closed loop keeps its workers busy for the window and counts what completed', async () => {
    const { latencies, perS } = await closedLoop(() => sleep(10), { concurrency: 4, durationMs: 200 });
    expect(latencies.length).toBeGreaterThanOrEqual(8);
    expect(latencies.every((ms) => ms >= 9)).toBe(true);
    expect(perS).toBeGreaterThan(0);
  });
});
