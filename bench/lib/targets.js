/**
 * The issues' targets: each a ratio of two cases of the same run (or an absolute bound, or a
 * difference in ms). A target reads cases, and the diagnostics it names (`http_healthz`,
 * `http_healthz_after_settle`: the HTTP floor measured in the same run).
 */

const get = (cases, name, key) => {
  const v = cases[name]?.[key];
  if (typeof v !== 'number') throw new Error(`bench: case ${name} has no ${key}`);
  return v;
};

export const TARGETS = [
  // Issue 13: each OCI backend against its runtime's own one-shot `run` of `true` on the same bundle (bench/cases/oci.js).
  ...['oci_runc', 'oci_crun', 'gvisor'].flatMap((b) => [
    {
      id: `${b}_create_vs_oneshot`,
      text: `\`${b}_create\` p50 <= 1.3 x \`${b}_oneshot_true\` p50`,
      ratio: (c) => get(c, `${b}_create`, 'p50_ms') / get(c, `${b}_oneshot_true`, 'p50_ms'),
      op: '<=', bound: 1.3,
    },
    {
      id: `${b}_exec_vs_oneshot`,
      text: `\`${b}_exec_true\` p50 <= 0.2 x \`${b}_oneshot_true\` p50`,
      ratio: (c) => get(c, `${b}_exec_true`, 'p50_ms') / get(c, `${b}_oneshot_true`, 'p50_ms'),
      op: '<=', bound: 0.2,
    },
  ]),
  {
    id: 'podman_create_vs_oneshot',
    text: '`podman_create` p50 <= 1.3 x `podman_oneshot_true` p50 (issue 13)',
    ratio: (c) => get(c, 'podman_create', 'p50_ms') / get(c, 'podman_oneshot_true', 'p50_ms'),
    op: '<=', bound: 1.3,
  },
  {
    id: 'podman_exec_vs_oneshot',
    text: '`podman_exec_true` p50 <= 0.2 x `podman_oneshot_true` p50 (issue 13)',
    ratio: (c) => get(c, 'podman_exec_true', 'p50_ms') / get(c, 'podman_oneshot_true', 'p50_ms'),
    op: '<=', bound: 0.2,
  },
  {
    id: 'pty_echo_vs_local',
    text: '`pty_echo_rtt` p50 <= 3 x `local_pty_echo_rtt` p50',
    ratio: (c) => get(c, 'pty_echo_rtt', 'p50_ms') / get(c, 'local_pty_echo_rtt', 'p50_ms'),
    op: '<=', bound: 3,
  },
  {
    id: 'reattach_vs_healthz',
    text: '`reattach_latency` p50 <= 2 x `http_healthz_interactive` p50 (GET /healthz in the same loop)',
    ratio: (c) => get(c, 'reattach_latency', 'p50_ms') / get(c, 'http_healthz_interactive', 'p50_ms'),
    op: '<=', bound: 2,
  },
  {
    id: 'exec_vs_spawn',
    text: '`ns_exec_true` p50 <= 1.0 x `spawn_true` p50',
    ratio: (c) => get(c, 'ns_exec_true', 'p50_ms') / get(c, 'spawn_true', 'p50_ms'),
    op: '<=', bound: 1.0,
  },
  {
    id: 'mcp_vs_exec',
    text: '`mcp_exec_true` p50 <= 2.0 x `ns_exec_true` p50',
    ratio: (c) => get(c, 'mcp_exec_true', 'p50_ms') / get(c, 'ns_exec_true', 'p50_ms'),
    op: '<=', bound: 2.0,
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
    id: 'create_vs_bwrap_1_3',
    text: '`ns_create` p50 <= 1.3 x `bwrap_oneshot_true` p50 (issue 16)',
    ratio: (c) => get(c, 'ns_create', 'p50_ms') / get(c, 'bwrap_oneshot_true', 'p50_ms'),
    op: '<=', bound: 1.3,
  },
  {
    id: 'exec_overhead',
    text: '`ns_exec_true` - `ns_exec_true_direct` - `http_healthz` (p50s) <= 0.4 ms: the pipeline\'s own work per exec (issue 16)',
    ratio: (c) => get(c, 'ns_exec_true', 'p50_ms') - get(c, 'ns_exec_true_direct', 'p50_ms') - get(c, 'http_healthz', 'p50_ms'),
    op: '<=', bound: 0.4, unit: 'ms',
  },
  {
    id: 'acquire_pool_vs_healthz',
    text: '`ns_acquire_pool` p50 <= 1.5 x `http_healthz_after_settle` p50 (issue 16)',
    ratio: (c) => get(c, 'ns_acquire_pool', 'p50_ms') / get(c, 'http_healthz_after_settle', 'p50_ms'),
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
  {
    id: 'stream_vs_pipe_0_6',
    text: '`ns_stream_256m` >= 0.6 x `pipe_256m` (issue 16)',
    ratio: (c) => get(c, 'ns_stream_256m', 'mib_per_s') / get(c, 'pipe_256m', 'mib_per_s'),
    op: '>=', bound: 0.6,
  },
  {
    id: 'egress_get',
    text: '`egress_get_256m` >= 0.7 x `direct_get_256m` (MiB/s)',
    ratio: (c) => get(c, 'egress_get_256m', 'mib_per_s') / get(c, 'direct_get_256m', 'mib_per_s'),
    op: '>=', bound: 0.7,
  },
  {
    id: 'egress_connect',
    text: '`egress_connect` p50 <= 3 x `direct_connect` p50',
    ratio: (c) => get(c, 'egress_connect', 'p50_ms') / get(c, 'direct_connect', 'p50_ms'),
    op: '<=', bound: 3,
  },
  {
    id: 'exec_allowlist_vs_none',
    text: '`ns_exec_true_allowlist` p50 <= 1.1 x `ns_exec_true_none` p50',
    ratio: (c) => get(c, 'ns_exec_true_allowlist', 'p50_ms') / get(c, 'ns_exec_true_none', 'p50_ms'),
    op: '<=', bound: 1.1,
  },
  {
    id: 'e2b_create_vs_ns_create',
    text: '`e2b_sdk_create` p50 <= 1.5 x `ns_create_e2b` p50 (issue 14: the stock E2B SDK vs agentd\'s, same daemon)',
    ratio: (c) => get(c, 'e2b_sdk_create', 'p50_ms') / get(c, 'ns_create_e2b', 'p50_ms'),
    op: '<=', bound: 1.5,
  },
  {
    id: 'e2b_exec_vs_ns_exec',
    text: '`e2b_sdk_exec_true` p50 <= 2 x `ns_exec_true_e2b` p50 (issue 14: the stock E2B SDK\'s commands.run(\'true\') vs agentd\'s exec, same daemon)',
    ratio: (c) => get(c, 'e2b_sdk_exec_true', 'p50_ms') / get(c, 'ns_exec_true_e2b', 'p50_ms'),
    op: '<=', bound: 2,
  },
];

/** Above this 1-minute load average at the start of a run, the bench prints no verdict (the numbers are still written). */
export const MAX_START_LOAD = 1.0;

/** Why the run's verdicts would not hold (the 1-minute load at its start), or undefined. */
export function verdictRefusal(loadavgStart) {
  const one = loadavgStart?.[0];
  if (typeof one !== 'number') return 'the load average at the start is unknown';
  if (one > MAX_START_LOAD) return `the 1-minute load average at the start was ${one} (> ${MAX_START_LOAD}): other work was running, so the ratios against the baselines do not hold (see bench/README.md, "An idle machine")`;
  return undefined;
}

/**
 * Each target's value and pass/miss; a target whose cases were not run is `not_run` (partial
 * runs only). `diagnostics` supplies the HTTP floors some targets subtract or divide by.
 * With `refusal` (verdictRefusal), every measured target is `no_verdict`: value, no pass/miss.
 */
export function evaluateTargets(cases, diagnostics = {}, refusal = undefined) {
  const all = { ...diagnostics, ...cases };
  return TARGETS.map((t) => {
    let value;
    try {
      value = t.ratio(all);
    } catch {
      return { id: t.id, target: t.text, value: null, bound: t.bound, op: t.op, status: 'not_run' };
    }
    const pass = t.op === '<=' ? value <= t.bound : value >= t.bound;
    const status = refusal !== undefined ? 'no_verdict' : pass ? 'pass' : 'miss';
    return { id: t.id, target: t.text, value: Number(value.toFixed(3)), bound: t.bound, op: t.op, unit: t.unit ?? 'x', status };
  });
}
