/** The bench's own arithmetic: a wrong percentile or target check would misreport every run. */
import { describe, expect, test } from 'vitest';
import { closedLoop, interleaved, sleep } from '../lib/measure.js';
import { percentile, summarize } from '../lib/stats.js';
import { TARGETS, evaluateTargets, verdictRefusal } from '../lib/targets.js';

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
    ns_exec_true_direct: { p50_ms: 4 },
    srt_true: { p50_ms: 200 },
    bwrap_oneshot_true: { p50_ms: 20 },
    ns_create: { p50_ms: 18 },
    ns_acquire_pool: { p50_ms: 0.5 },
    ns_exec_throughput_c16: { per_s: 300 },
    spawn_throughput_c16: { per_s: 100 },
    ns_idle_500: { pss_per_sandbox_mib: 0.2, daemon_rss_mib: 120 },
    ns_stream_256m: { mib_per_s: 200 },
    pipe_256m: { mib_per_s: 300 },
    node_startup: { p50_ms: 40 },
    cli_exec_true: { p50_ms: 50 },
    cli_run_true: { p50_ms: 70 },
    pty_echo_rtt: { p50_ms: 0.5 },
    local_pty_echo_rtt: { p50_ms: 0.25 },
    reattach_latency: { p50_ms: 1.5 },
    http_healthz_interactive: { p50_ms: 1 },
    egress_get_256m: { mib_per_s: 240 },
    direct_get_256m: { mib_per_s: 300 },
    egress_connect: { p50_ms: 0.5 },
    direct_connect: { p50_ms: 0.25 },
    ns_exec_true_allowlist: { p50_ms: 5.2 },
    ns_exec_true_none: { p50_ms: 5 },
    // Issue 13: each runtime's backend against its own one-shot run.
    ...Object.fromEntries(['oci_runc', 'oci_crun', 'gvisor', 'podman'].flatMap((b) => [
      [`${b}_oneshot_true`, { p50_ms: 100 }], [`${b}_create`, { p50_ms: 110 }], [`${b}_exec_true`, { p50_ms: 10 }],
    ])),
    // Issue 14: the stock E2B SDK against agentd's own, same daemon.
    e2b_sdk_create: { p50_ms: 20 },
    ns_create_e2b: { p50_ms: 18 },
    e2b_sdk_exec_true: { p50_ms: 8 },
    ns_exec_true_e2b: { p50_ms: 5 },
  };
}

/** The HTTP floors of the same run (diagnostics). */
function passingDiagnostics() {
  return { http_healthz: { p50_ms: 0.8 }, http_healthz_after_settle: { p50_ms: 0.4 } };
}

describe('targets', () => {
  test('a run inside every bound passes all of them, with the ratios computed from the cases', () => {
    const results = evaluateTargets(passingCases(), passingDiagnostics());
    expect(results.map((r) => r.status)).toEqual(TARGETS.map(() => 'pass'));
    const byId = Object.fromEntries(results.map((r) => [r.id, r.value]));
    expect(byId).toMatchObject({
      exec_vs_spawn: 0.5, mcp_vs_exec: 1.5, srt_vs_exec: 40, bwrap_vs_exec: 4, create_vs_bwrap: 0.9, create_vs_bwrap_1_3: 0.9, exec_overhead: 0.2, acquire_pool: 0.5,
      acquire_pool_vs_healthz: 1.25, throughput: 3, stream_vs_pipe: 0.667, stream_vs_pipe_0_6: 0.667, cli_exec_vs_node: 1.25, cli_run_vs_node: 1.75,
    });
  });

  test.each([
    ['exec_vs_spawn', (c) => (c.spawn_true.p50_ms = 4.99)],
    ['mcp_vs_exec', (c) => (c.mcp_exec_true.p50_ms = 10.01)],
    ['srt_vs_exec', (c) => (c.srt_true.p50_ms = 99)],
    ['bwrap_vs_exec', (c) => (c.bwrap_oneshot_true.p50_ms = 14.9)],
    // Past 1.5x is past 1.3x too: both miss.
    ['create_vs_bwrap,create_vs_bwrap_1_3', (c) => (c.ns_create.p50_ms = 30.01)],
    ['create_vs_bwrap_1_3', (c) => (c.ns_create.p50_ms = 26.01)],
    ['exec_overhead', (c) => (c.ns_exec_true_direct.p50_ms = 3.79)],
    ['acquire_pool_vs_healthz', (c) => (c.ns_acquire_pool.p50_ms = 0.61)],
    ['acquire_pool_vs_healthz,acquire_pool', (c) => (c.ns_acquire_pool.p50_ms = 1.01)],
    ['throughput', (c) => (c.ns_exec_throughput_c16.per_s = 99)],
    ['idle_pss', (c) => (c.ns_idle_500.pss_per_sandbox_mib = 1.6)],
    ['idle_daemon_rss', (c) => (c.ns_idle_500.daemon_rss_mib = 201)],
    ['stream_vs_pipe,stream_vs_pipe_0_6', (c) => (c.ns_stream_256m.mib_per_s = 149)],
    ['stream_vs_pipe_0_6', (c) => (c.ns_stream_256m.mib_per_s = 179)],
    ['cli_exec_vs_node', (c) => (c.cli_exec_true.p50_ms = 60.1)],
    ['cli_run_vs_node', (c) => (c.cli_run_true.p50_ms = 80.1)],
  ])('%s misses just past its bound, and only it', (ids, spoil) => {
    const cases = passingCases();
    spoil(cases);
    const results = evaluateTargets(cases, passingDiagnostics());
    expect(results.filter((r) => r.status !== 'pass').map((r) => [r.id, r.status])).toEqual(ids.split(',').map((id) => [id, 'miss']));
  });

  test('a diagnostic floor that did not run leaves its target not_run; a higher floor passes again', () => {
    expect(evaluateTargets(passingCases()).filter((r) => r.status === 'not_run').map((r) => r.id)).toEqual(['exec_overhead', 'acquire_pool_vs_healthz']);
    const cases = passingCases();
    cases.ns_exec_true_direct.p50_ms = 3.79;
    expect(evaluateTargets(cases, { ...passingDiagnostics(), http_healthz: { p50_ms: 0.81 } }).find((r) => r.id === 'exec_overhead')).toMatchObject({ status: 'pass' });
  });

  test('no verdict above a 1-minute load of 1.0 at the start: values kept, no pass or miss', () => {
    expect(verdictRefusal([1.0, 3, 3])).toBeUndefined();
    expect(verdictRefusal([1.01, 0.2, 0.1])).toMatch(/1-minute load average at the start was 1.01/);
    expect(verdictRefusal(undefined)).toMatch(/unknown/);
    const cases = passingCases();
    cases.spawn_true.p50_ms = 4.99;
    const results = evaluateTargets(cases, passingDiagnostics(), verdictRefusal([2.5, 1, 1]));
    expect(new Set(results.map((r) => r.status))).toEqual(new Set(['no_verdict']));
    expect(results.find((r) => r.id === 'exec_vs_spawn').value).toBe(1.002);
  });

  test('a bound met exactly passes; a target whose case did not run is not_run, never pass', () => {
    const exact = passingCases();
    exact.spawn_true.p50_ms = 5;
    exact.ns_acquire_pool.p50_ms = 1;
    expect(evaluateTargets(exact, passingDiagnostics()).filter((r) => r.id === 'exec_vs_spawn' || r.id === 'acquire_pool').map((r) => r.status)).toEqual(['pass', 'pass']);
    const partial = passingCases();
    delete partial.pipe_256m;
    expect(evaluateTargets(partial, passingDiagnostics()).find((r) => r.id === 'stream_vs_pipe')).toMatchObject({ status: 'not_run', value: null });
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
