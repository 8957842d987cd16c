/** The targets: each a ratio of two cases of the same run (or an absolute bound). */

const get = (cases, name, key) => {
  const v = cases[name]?.[key];
  if (typeof v !== 'number') throw new Error(`bench: case ${name} has no ${key}`);
  return v;
};

export const TARGETS = [
  {
    id: 'pty_echo_vs_local',
    text: '`pty_echo_rtt` p50 <= 3 x `local_pty_echo_rtt` p50',
    ratio: (c) => get(c, 'pty_echo_rtt', 'p50_ms') / get(c, 'local_pty_echo_rtt', 'p50_ms'),
    op: '<=', bound: 3,
  },
  {
    id: 'reattach_vs_healthz',
    text: '`reattach_latency` p50 <= 2 x `http_healthz` p50 (same loop)',
    ratio: (c) => get(c, 'reattach_latency', 'p50_ms') / get(c, 'http_healthz', 'p50_ms'),
    op: '<=', bound: 2,
  },
  {
    id: 'exec_vs_spawn',
    text: '`ns_exec_true` p50 <= 1.0 x `spawn_true` p50',
    ratio: (c) => get(c, 'ns_exec_true', 'p50_ms') / get(c, 'spawn_true', 'p50_ms'),
    op: '<=', bound: 1.0,
  },
  {
    id: 'srt_vs_exec',
    text: '`srt_true` p50 >= 20 x `ns_exec_true` p50',
    ratio: (c) => get(c, 'srt_true', 'p50_ms') / get(c, 'ns_exec_true', 'p50_ms'),
    op: '>=', bound: 20,
  },
  {
    id: 'bwrap_vs_exec',
    text: '`bwrap_oneshot_true` p50 >= 3 x `ns_exec_true` p50',
    ratio: (c) => get(c, 'bwrap_oneshot_true', 'p50_ms') / get(c, 'ns_exec_true', 'p50_ms'),
    op: '>=', bound: 3,
  },
  {
    id: 'create_vs_bwrap',
    text: '`ns_create` p50 <= 1.5 x `bwrap_oneshot_true` p50',
    ratio: (c) => get(c, 'ns_create', 'p50_ms') / get(c, 'bwrap_oneshot_true', 'p50_ms'),
    op: '<=', bound: 1.5,
  },
  {
    id: 'acquire_pool',
    text: '`ns_acquire_pool` p50 <= 1 ms',
    ratio: (c) => get(c, 'ns_acquire_pool', 'p50_ms'),
    op: '<=', bound: 1, unit: 'ms',
  },
  {
    id: 'throughput',
    text: '`ns_exec_throughput_c16` >= 1.0 x `spawn_throughput_c16`',
    ratio: (c) => get(c, 'ns_exec_throughput_c16', 'per_s') / get(c, 'spawn_throughput_c16', 'per_s'),
    op: '>=', bound: 1.0,
  },
  {
    id: 'idle_pss',
    text: '`ns_idle_500`: <= 1.5 MiB PSS per idle sandbox',
    ratio: (c) => get(c, 'ns_idle_500', 'pss_per_sandbox_mib'),
    op: '<=', bound: 1.5, unit: 'MiB',
  },
  {
    id: 'idle_daemon_rss',
    text: '`ns_idle_500`: daemon RSS <= 200 MiB',
    ratio: (c) => get(c, 'ns_idle_500', 'daemon_rss_mib'),
    op: '<=', bound: 200, unit: 'MiB',
  },
  {
    id: 'cli_exec_vs_node',
    text: '`cli_exec_true` p50 <= 1.5 x `node_startup` p50',
    ratio: (c) => get(c, 'cli_exec_true', 'p50_ms') / get(c, 'node_startup', 'p50_ms'),
    op: '<=', bound: 1.5,
  },
  {
    id: 'cli_run_vs_node',
    text: '`cli_run_true` p50 <= 2.0 x `node_startup` p50',
    ratio: (c) => get(c, 'cli_run_true', 'p50_ms') / get(c, 'node_startup', 'p50_ms'),
    op: '<=', bound: 2.0,
  },
  {
    id: 'stream_vs_pipe',
    text: '`ns_stream_256m` >= 0.5 x `pipe_256m`',
    ratio: (c) => get(c, 'ns_stream_256m', 'mib_per_s') / get(c, 'pipe_256m', 'mib_per_s'),
    op: '>=', bound: 0.5,
  },
];

/** Each target's value and pass/miss; a target whose cases were not run is `not_run` (partial runs only). */
export function evaluateTargets(cases) {
  return TARGETS.map((t) => {
    let value;
    try {
      value = t.ratio(cases);
    } catch {
      return { id: t.id, target: t.text, value: null, bound: t.bound, op: t.op, status: 'not_run' };
    }
    const pass = t.op === '<=' ? value <= t.bound : value >= t.bound;
    return { id: t.id, target: t.text, value: Number(value.toFixed(3)), bound: t.bound, op: t.op, unit: t.unit ?? 'x', status: pass ? 'pass' : 'miss' };
  });
}
