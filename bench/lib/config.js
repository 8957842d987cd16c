/**
 * The bench daemons' configuration. Everything here is what a user would set for the
 * workload, never a performance knob:
 * - a free port on loopback;
 * - network off (the srt and bwrap baselines run without network too);
 * - a cgroup parent of the bench's own, so neither this run nor another daemon on the host
 *   (tests, other runs) treats the other's sandbox cgroups as orphans at start-up;
 * - room for 500 idle sandboxes (ns_idle_500) and a 256 MiB output (ns_stream_256m);
 * - the profile's default disk limit (a per-sandbox ext4 volume, root daemon): every real
 *   sandbox pays for it, so the bench does too. `disk: false` sets `disk_bytes = 0` (no volume)
 *   and is used only where the defaults cannot apply (host-direct cannot have a volume) or for a
 *   case named `..._no_disk` that says so (bench/README.md).
 * `hostDirect`: the daemon of host_exec_true, whose default backend is host-direct; that backend
 * cannot restrict the network, so its sandboxes get the host's (a request may only narrow the
 * config's network, and the other daemons keep `none`).
 */
export function benchConfig({ cgroupParent, pool = undefined, maxSandboxes = 64, hostDirect = false, disk = !hostDirect }) {
  const lines = [
    'profile = "workstation"',
    '[isolation]',
    `backend = ${hostDirect ? '"host-direct"' : '"namespace"'}`,
    '[isolation.backends.namespace]',
    `cgroup_parent = ${JSON.stringify(cgroupParent)}`,
    '[adapters.http]',
    'listen = "127.0.0.1:0"',
    '[sandbox]',
    `network = ${hostDirect ? '"host"' : '"none"'}`,
    `max_sandboxes = ${maxSandboxes}`,
    ...(disk ? [] : ['[sandbox.limits]', 'disk_bytes = 0']),
    '[pool]',
    pool === undefined ? 'enabled = false' : `enabled = true\nmin_warm = ${pool.minWarm}\nmax_warm = ${pool.maxWarm}`,
    '[limits]',
    `max_output_bytes = ${512 * 1024 * 1024}`,
    '[log]',
    `level = ${JSON.stringify(process.env.BENCH_DAEMON_LOG_LEVEL ?? 'warn')}`,
  ];
  return `${lines.join('\n')}\n`;
}
