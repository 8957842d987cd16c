/**
 * The bench daemons' configuration. Everything here is what a user would set for the
 * workload, never a performance knob:
 * - a free port on loopback;
 * - network off (the srt and bwrap baselines run without network too);
 * - a cgroup parent of the bench's own, so neither this run nor another daemon on the host
 *   (tests, other runs) treats the other's sandbox cgroups as orphans at start-up;
 * - room for 500 idle sandboxes (ns_idle_500) and a 256 MiB output (ns_stream_256m).
 */
export function benchConfig({ cgroupParent, pool = undefined, maxSandboxes = 64 }) {
  const lines = [
    'profile = "workstation"',
    '[isolation]',
    'backend = "namespace"',
    // host_exec_true asks for the host-direct backend by name (an admin's choice since issue 9).
    'allow_host_direct = true',
    '[isolation.backends.namespace]',
    `cgroup_parent = ${JSON.stringify(cgroupParent)}`,
    '[adapters.http]',
    'listen = "127.0.0.1:0"',
    '[sandbox]',
    'network = "none"',
    `max_sandboxes = ${maxSandboxes}`,
    '[pool]',
    pool === undefined ? 'enabled = false' : `enabled = true\nmin_warm = ${pool.minWarm}\nmax_warm = ${pool.maxWarm}`,
    '[limits]',
    `max_output_bytes = ${512 * 1024 * 1024}`,
    '[log]',
    `level = ${JSON.stringify(process.env.BENCH_DAEMON_LOG_LEVEL ?? 'warn')}`,
  ];
  return `${lines.join('\n')}\n`;
}
