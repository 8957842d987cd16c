#!/usr/bin/env node
/**
 * agentd benchmarks: `npm run bench` (full, ~5-10 min on 2 cores) or `npm run bench -- --quick`
 * (under 2 min). One process tree: this process (baselines, the SDK client, the direct backend)
 * and `agentd serve` children. Writes bench/results/latest.{json,md,svg}.
 *
 * Flags: --quick; --only=GROUP[,GROUP] (latency,start,cli,srt,throughput,stream,pool,idle,interactive,oci,gvisor,e2b,native,podman: writes
 * results/partial.* instead of latest.*); --cpu-prof (the daemons write V8 CPU profiles to
 * bench/results/profiles/).
 */
import { readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkDeps } from './lib/deps.js';
import { benchConfig } from './lib/config.js';
import { startDaemon } from './lib/daemon.js';
import { loadavg, machineInfo } from './lib/machine.js';
import { closedLoop, interleaved, sleep, timed } from './lib/measure.js';
import { PATHS } from './lib/paths.js';
import { writeReport } from './lib/report.js';
import { round, summarize, summarizeRate } from './lib/stats.js';
import { MAX_START_LOAD, evaluateTargets, verdictRefusal } from './lib/targets.js';

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const CPU_PROF = argv.includes('--cpu-prof');
/** --wait-idle[=MINUTES]: wait (default up to 10 min) until the 1-minute load is at most 1.0 before measuring. */
const WAIT_IDLE = argv.find((a) => a === '--wait-idle' || a.startsWith('--wait-idle='));
const ONLY = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const GROUPS = ['latency', 'start', 'cli', 'srt', 'throughput', 'stream', 'pool', 'idle', 'network', 'interactive', 'oci', 'gvisor', 'e2b', 'native', 'podman'];
for (const a of argv) {
  if (a !== '--quick' && a !== '--cpu-prof' && !a.startsWith('--only=') && a !== '--wait-idle' && !/^--wait-idle=\d+$/.test(a)) {
    console.error(`bench: unknown argument '${a}' (use --quick, --only=${GROUPS.join(',')}, --cpu-prof, --wait-idle[=MINUTES])`);
    process.exit(2);
  }
}
if (ONLY?.some((g) => !GROUPS.includes(g))) {
  console.error(`bench: --only takes ${GROUPS.join(',')}`);
  process.exit(2);
}
const wants = (g) => ONLY === undefined || ONLY.includes(g);

/** Sample counts: full / quick. */
const PLAN = QUICK
  ? { interN: 300, latN: 150, latWarm: 20, startN: 20, startWarm: 3, cliN: 15, cliWarm: 2, srtN: 9, srtWarm: 1, tpRounds: 2, tpMs: 1000, streamN: 5, rawStream: false, poolN: 15, idle: 500 }
  : { interN: 2000, latN: 1000, latWarm: 50, startN: 100, startWarm: 5, cliN: 40, cliWarm: 3, srtN: 20, srtWarm: 2, tpRounds: 4, tpMs: 3000, streamN: 5, rawStream: true, poolN: 60, idle: 500 };
const STREAM_BYTES = 256 * 1024 * 1024;
const POOL = { minWarm: 2, maxWarm: 2 };

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

const problems = checkDeps();
if (problems.length > 0) {
  for (const p of problems) console.error(`bench: missing dependency: ${p}`);
  console.error('bench: nothing was measured (install the above, e.g. `bash scripts/setup.sh`, then `npm run build`)');
  process.exit(1);
}

// Imported after the checks so a missing build gives the message above, not a stack trace.
const { openDirect } = await import('./cases/direct.js');
const { openSrt } = await import('./cases/srt.js');
const { spawnTrue, pipeBytes } = await import('./cases/floor.js');
const { openMcp } = await import('./cases/mcp.js');
const { auditDurations, clientFor, createColdOnce, createSandbox, execTrue, streamZeros, streamZerosRaw, waitPoolFull } = await import('./cases/api.js');
const { idleMany } = await import('./cases/idle.js');
const { channelOverheadUs } = await import('./cases/channel-overhead.js');
const { acquireInProcess } = await import('./cases/manager.js');
const { nodeStartup, openCli } = await import('./cases/cli.js');
const net = await import('./cases/network.js');

if (WAIT_IDLE !== undefined) {
  const minutes = WAIT_IDLE.includes('=') ? Number(WAIT_IDLE.split('=')[1]) : 10;
  const deadline = Date.now() + minutes * 60_000;
  while (loadavg()[0] > MAX_START_LOAD && Date.now() < deadline) {
    log(`waiting for an idle machine: 1-minute load ${loadavg()[0]} > ${MAX_START_LOAD} (up to ${minutes} min in all)`);
    await new Promise((r) => setTimeout(r, 15_000));
  }
}
const started = performance.now();
const machine = machineInfo();
/** The 1/5/15-minute load average before and after each case group. */
const groupLoad = {};
async function group(name, fn) {
  const entry = { before: loadavg() };
  groupLoad[name] = entry;
  try {
    return await fn();
  } finally {
    entry.after = loadavg();
  }
}
const cgroupBase = `agentd-bench-${process.pid}`;
const cases = {};
const diagnostics = {};
const notes = [];
const cleanups = [];
const daemonArgs = (name) => (CPU_PROF ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${join(PATHS.results, 'profiles')}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] } : {});

async function withCleanup(fn) {
  cleanups.push(fn);
  return fn;
}

async function runCleanups() {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    await Promise.resolve()
      .then(fn)
      .catch((err) => log(`cleanup failed: ${err.message}`));
  }
  // The bench's own cgroup parents (empty once their sandboxes are gone).
  for (const controller of readdirSync('/sys/fs/cgroup', { withFileTypes: true })) {
    if (!controller.isDirectory()) continue;
    for (const suffix of ['main', 'host', 'nodisk', 'pool', 'idle', 'direct', 'manager', 'cli', 'net', 'interactive', 'e2b', 'native', 'native-ns', 'podman']) {
      try {
        rmdirSync(join('/sys/fs/cgroup', controller.name, `${cgroupBase}-${suffix}`));
      } catch {
        // not there, or not empty (then a cleanup above failed and said so)
      }
    }
  }
}

async function mainPhase() {
  if (!['latency', 'start', 'cli', 'throughput', 'stream'].some(wants)) return;
  log('starting the main daemon (pool off)');
  const daemon = await startDaemon({ name: 'main', config: benchConfig({ cgroupParent: `${cgroupBase}-main` }), ...daemonArgs('main') });
  await withCleanup(() => daemon.stop());
  const client = clientFor(daemon);
  const nsSbx = await createSandbox(client);
  // Only the latency group uses the host-direct sandbox: a daemon of its own, whose default backend it is.
  const hostDaemon = wants('latency') ? await startDaemon({ name: 'host', config: benchConfig({ cgroupParent: `${cgroupBase}-host`, hostDirect: true }), ...daemonArgs('host') }) : undefined;
  await withCleanup(() => hostDaemon?.stop());
  const hostSbx = hostDaemon ? await createSandbox(clientFor(hostDaemon)) : undefined;
  await withCleanup(() => Promise.allSettled([nsSbx.destroy(), hostSbx?.destroy()]));
  // The namespace backend used directly: the latency and start groups only.
  const direct = wants('latency') || wants('start') ? await openDirect({ cgroupParent: `${cgroupBase}-direct` }) : undefined;
  await withCleanup(() => direct?.close());
  if (direct) notes.push(`bwrap_oneshot_true runs: ${direct.bwrapArgv.map((a) => (/[\s']/.test(a) ? `'${a}'` : a)).join(' ')} (seccomp filter on fd 3${direct.asRootDrop ? '; root drops to the host uid the backend uses' : ''})`);

  if (wants('latency')) await group('latency', async () => {
    log(`latency: spawn_true, host_exec_true, ns_exec_true, ns_exec_true_direct, mcp_exec_true (${PLAN.latN} rounds + ${PLAN.latWarm} warm-up)`);
    // The same sandbox as ns_exec_true, reached as an MCP tool call over streamable HTTP.
    const mcp = await openMcp({ daemon, sandboxId: nsSbx.id });
    await withCleanup(() => mcp.close());
    const s = await interleaved(
      {
        spawn_true: spawnTrue, host_exec_true: () => execTrue(hostSbx), ns_exec_true: () => execTrue(nsSbx), ns_exec_true_direct: direct.execTrue, mcp_exec_true: mcp.execTrue,
        // The floor of any API call on this machine: GET /healthz from the same SDK client.
        http_healthz: () => client.health(),
      },
      { n: PLAN.latN, warmup: PLAN.latWarm },
    );
    diagnostics.http_healthz = summarize(s.http_healthz);
    diagnostics.channel_roundtrip_fake_init_us = round(await channelOverheadUs({ n: QUICK ? 2000 : 20000, warmup: 1000 }), 1);
    delete s.http_healthz;
    for (const [k, v] of Object.entries(s)) cases[k] = summarize(v);
  });

  if (wants('start')) await group('start', async () => {
    log(`start: bwrap_oneshot_true vs ns_create, and ns_create_no_disk (${PLAN.startN} rounds + ${PLAN.startWarm} warm-up)`);
    // Diagnostic only: the same create on a daemon whose config drops the default disk volume
    // (disk_bytes = 0), to show what the per-sandbox volume costs. ns_create keeps the defaults.
    const noDisk = await startDaemon({ name: 'nodisk', config: benchConfig({ cgroupParent: `${cgroupBase}-nodisk`, disk: false }), ...daemonArgs('nodisk') });
    try {
      const noDiskClient = clientFor(noDisk);
      const createMs = [];
      const noDiskMs = [];
      const s = await interleaved(
        {
          bwrap_oneshot_true: direct.bwrapTrue,
          ns_create: async () => createMs.push(await createColdOnce(client)),
          ns_create_no_disk: async () => noDiskMs.push(await createColdOnce(noDiskClient)),
        },
        { n: PLAN.startN, warmup: PLAN.startWarm },
      );
      cases.bwrap_oneshot_true = summarize(s.bwrap_oneshot_true);
      // ns_create's sample is the create alone (its destroy, also in the round, is not timed).
      cases.ns_create = summarize(createMs.slice(PLAN.startWarm));
      diagnostics.ns_create_no_disk = { ...summarize(noDiskMs.slice(PLAN.startWarm)), note: 'NOT the default: the same create on a daemon with sandbox.limits.disk_bytes = 0 (no per-sandbox volume), interleaved with ns_create' };
      diagnostics.ns_create_in_daemon = { ...summarize(await auditDurations(client, 'sandbox.create', PLAN.startN)), note: 'audit durationMs (whole ms) of the same creates' };
    } finally {
      await noDisk.stop();
    }
  });

  if (wants('cli')) await group('cli', async () => {
    log(`cli: node_startup, cli_exec_true, cli_run_true (${PLAN.cliN} rounds + ${PLAN.cliWarm} warm-up; whole processes)`);
    const cli = openCli({ daemon, sandboxId: nsSbx.id, cgroupParent: `${cgroupBase}-cli` });
    try {
      const s = await interleaved(
        { node_startup: nodeStartup, cli_exec_true: cli.cliExecTrue, cli_run_true: cli.cliRunTrue },
        { n: PLAN.cliN, warmup: PLAN.cliWarm },
      );
      for (const [k, v] of Object.entries(s)) cases[k] = summarize(v);
    } finally {
      cli.close();
    }
  });

  if (wants('throughput')) await group('throughput', async () => {
    log(`throughput: spawn_throughput_c16 vs ns_exec_throughput_c16 (${PLAN.tpRounds} rounds of ${PLAN.tpMs} ms each)`);
    const acc = { spawn_throughput_c16: { lat: [], rates: [], count: 0, seconds: 0 }, ns_exec_throughput_c16: { lat: [], rates: [], count: 0, seconds: 0 } };
    const fns = { spawn_throughput_c16: spawnTrue, ns_exec_throughput_c16: () => execTrue(nsSbx) };
    // Warm-up: one short round of each.
    for (const fn of Object.values(fns)) await closedLoop(fn, { concurrency: 16, durationMs: 300 });
    for (let r = 0; r < PLAN.tpRounds; r++) {
      const order = r % 2 === 0 ? Object.keys(fns) : Object.keys(fns).reverse();
      for (const k of order) {
        const t = performance.now();
        const res = await closedLoop(fns[k], { concurrency: 16, durationMs: PLAN.tpMs });
        acc[k].seconds += (performance.now() - t) / 1000;
        acc[k].count += res.latencies.length;
        acc[k].lat.push(...res.latencies);
        acc[k].rates.push(res.perS);
      }
    }
    for (const [k, a] of Object.entries(acc)) {
      cases[k] = { ...summarize(a.lat), per_s: round(a.count / a.seconds, 1), concurrency: 16, rounds: a.rates.map((x) => round(x, 1)) };
    }
  });

  if (wants('stream')) await group('stream', async () => {
    log(`stream: pipe_256m vs ns_stream_256m (${PLAN.streamN} rounds + a full-size warm-up)`);
    const fns = {
      pipe_256m: () => pipeBytes(STREAM_BYTES),
      ns_stream_256m: () => streamZeros(nsSbx, STREAM_BYTES),
      // Diagnostic, full runs only (it would double the quick run's stream time).
      ...(PLAN.rawStream
        ? {
            ns_stream_256m_raw_client: () => streamZerosRaw(daemon, nsSbx, STREAM_BYTES),
            ns_stream_256m_keep_output: () => streamZeros(nsSbx, STREAM_BYTES, { keepOutput: true }),
          }
        : {}),
    };
    // Warm-up: one full-size transfer of each. A smaller one left the first measured stream
    // at about half its steady speed (JIT and heap growth in the daemon and the client:
    // 2.3 s of CPU for the first 256 MiB, about 1 s for the next ones).
    await pipeBytes(STREAM_BYTES);
    await streamZeros(nsSbx, STREAM_BYTES);
    const s = await interleaved(fns, { n: PLAN.streamN, warmup: 0 });
    for (const [k, v] of Object.entries(s)) {
      const sum = summarize(v);
      const entry = { ...sum, mib_per_s: round(256 / (sum.p50_ms / 1000), 1), bytes: STREAM_BYTES };
      if (k.endsWith('_raw_client')) diagnostics[k] = { ...entry, note: 'plain fetch read to the end, not parsed: the daemon and HTTP alone' };
      else if (k.endsWith('_keep_output')) diagnostics[k] = { ...entry, note: 'the SDK also keeping all the output for the result (its default, keepOutput: true)' };
      else cases[k] = entry;
    }
  });

  await runCleanupsOf(3);
}

/** Runs the last `n` cleanups now (the phase's own resources). */
async function runCleanupsOf(n) {
  for (let i = 0; i < n && cleanups.length > 0; i++) {
    const fn = cleanups.pop();
    await fn();
  }
}

async function srtPhase() {
  if (!wants('srt')) return;
  log(`srt: srt_true (${PLAN.srtN} + ${PLAN.srtWarm} warm-up; each ~0.3-1 s)`);
  const srt = await openSrt();
  await withCleanup(() => srt.close());
  const s = await interleaved({ srt_true: srt.srtTrue }, { n: PLAN.srtN, warmup: PLAN.srtWarm });
  cases.srt_true = summarize(s.srt_true);
  await runCleanupsOf(1);
}

async function poolPhase() {
  if (!wants('pool')) return;
  log(`pool: ns_acquire_pool (${PLAN.poolN} acquisitions from a full pool of ${POOL.minWarm})`);
  const daemon = await startDaemon({ name: 'pool', config: benchConfig({ cgroupParent: `${cgroupBase}-pool`, pool: POOL }), ...daemonArgs('pool') });
  await withCleanup(() => daemon.stop());
  const client = clientFor(daemon);
  const samples = [];
  const floor = [];
  for (let i = 0; i < PLAN.poolN + 3; i++) {
    // The floor of any API call in exactly these conditions (after the same wait and settle):
    // a GET /healthz in a round of its own, before each acquisition's round.
    for (const kind of ['healthz', 'acquire']) {
      await waitPoolFull(daemon, POOL.minWarm);
      await sleep(50); // let the fill that just ended finish its bookkeeping
      if (kind === 'healthz') {
        const ms = await timed(() => client.health());
        if (i >= 3) floor.push(ms);
        continue;
      }
      let sbx;
      const ms = await timed(async () => {
        sbx = await createSandbox(client);
      });
      if (i >= 3) samples.push(ms);
      await sbx.destroy();
    }
  }
  cases.ns_acquire_pool = summarize(samples);
  diagnostics.http_healthz_after_settle = { ...summarize(floor), note: 'GET /healthz after the same pool wait and 50 ms settle as each ns_acquire_pool sample: the HTTP floor of that case' };
  const inProcess = await acquireInProcess({ cgroupParent: `${cgroupBase}-manager`, n: PLAN.poolN, warmup: 3, poolSize: POOL.minWarm });
  diagnostics.ns_acquire_pool_in_process = { ...summarize(inProcess), note: 'SandboxManager.create() from a full pool in the harness process (no HTTP, no audit)' };
  diagnostics.ns_acquire_pool_in_daemon = { ...summarize(await auditDurations(client, 'sandbox.create', PLAN.poolN)), note: 'audit durationMs (whole ms) of the same creates' };
  await runCleanupsOf(1);
}

/** Issue 12: egress through the allowlist proxy vs the host, and exec cost by network mode (cases/network.js). */
async function networkPhase() {
  if (!wants('network')) return;
  const up = await net.startUpstreams();
  await withCleanup(() => up.close());
  const config = `${benchConfig({ cgroupParent: `${cgroupBase}-net` }).replace('network = "none"', 'network = "allowlist"')}${net.networkConfig(up)}\n`;
  const daemon = await startDaemon({ name: 'net', config, ...daemonArgs('net') });
  await withCleanup(() => daemon.stop());
  const client = clientFor(daemon);
  const allow = await createSandbox(client, { network: 'allowlist' });
  const none = await createSandbox(client, { network: 'none' });
  await withCleanup(() => Promise.allSettled([allow.destroy(), none.destroy()]));
  const n = QUICK ? 3 : 5;
  log(`network: egress_get_256m vs direct_get_256m (${n} rounds + a warm-up)`);
  await net.egressGet(allow, up, STREAM_BYTES);
  await net.directGet(up, STREAM_BYTES);
  const g = await interleaved({ egress_get_256m: () => net.egressGet(allow, up, STREAM_BYTES), direct_get_256m: () => net.directGet(up, STREAM_BYTES) }, { n, warmup: 0 });
  for (const [k, v] of Object.entries(g)) {
    const sum = summarize(v);
    cases[k] = { ...sum, mib_per_s: round(256 / (sum.p50_ms / 1000), 1), bytes: STREAM_BYTES };
  }
  const cn = QUICK ? 200 : 1000;
  log(`network: egress_connect vs direct_connect (${cn} connections each, in python3, after 50 of warm-up)`);
  await net.connectSamples(allow, up, 'proxy', 50);
  await net.connectSamples(allow, up, 'direct', 50);
  cases.egress_connect = summarize(await net.connectSamples(allow, up, 'proxy', cn));
  cases.direct_connect = summarize(await net.connectSamples(allow, up, 'direct', cn));
  log(`network: ns_exec_true_allowlist vs ns_exec_true_none (${PLAN.latN} rounds + ${PLAN.latWarm} warm-up)`);
  const e = await interleaved({ ns_exec_true_allowlist: () => execTrue(allow), ns_exec_true_none: () => execTrue(none) }, { n: PLAN.latN, warmup: PLAN.latWarm });
  for (const [k, v] of Object.entries(e)) cases[k] = summarize(v);
}

async function interactivePhase() {
  if (!wants('interactive')) return;
  const { openPtyEcho, localPtyEcho, openReattach } = await import('./cases/interactive.js');
  log(`interactive: pty_echo_rtt vs local_pty_echo_rtt, reattach_latency vs http_healthz_interactive (${PLAN.interN} rounds + 50 warm-up)`);
  const daemon = await startDaemon({ name: 'interactive', config: benchConfig({ cgroupParent: `${cgroupBase}-interactive` }), ...daemonArgs('interactive') });
  await withCleanup(() => daemon.stop());
  const client = clientFor(daemon);
  const sbx = await createSandbox(client);
  await withCleanup(() => sbx.destroy());
  const pty = await openPtyEcho(daemon, sbx);
  const re = await openReattach(sbx);
  await withCleanup(async () => {
    pty.close();
    await re.close();
  });
  const s = await interleaved({ pty_echo_rtt: pty.typeOne, reattach_latency: re.reattachOnce, http_healthz_interactive: () => client.health() }, { n: PLAN.interN, warmup: 50 });
  for (const [k, v] of Object.entries(s)) cases[k] = summarize(v);
  cases.local_pty_echo_rtt = summarize(await localPtyEcho({ n: PLAN.interN, warmup: 50 }));
  notes.push('local_pty_echo_rtt: python3 pty.fork() running cat, timed inside Python from os.write of one byte to the master until os.read returns its echo; pty_echo_rtt: the same byte through the commands WebSocket to cat on a PTY in a namespace sandbox, timed in the bench process (ws client) until the echo message arrives');
  notes.push('reattach_latency: the SDK connects to a running command (a byte every 0.5 ms) from its current end over the REST stream route until the next byte arrives, then disconnects; http_healthz_interactive is GET /healthz measured in the same interleaved loop from the same client');
  await runCleanupsOf(3);
}

/**
 * Issue 13: the linux-native backend (Landlock, no namespaces) next to the namespace backend:
 * `true` through the API and a create (to ready), each pair interleaved in one loop, on two
 * daemons with the same config but the backend. The namespace pair is a diagnostic here
 * (ns_exec_true and ns_create proper are the latency and start groups').
 */
async function nativePhase() {
  if (!wants('native')) return;
  log(`native: linux_native_exec_true vs ns_exec_true, linux_native_create vs ns_create (${PLAN.latN} / ${PLAN.startN} rounds)`);
  const llConfig = `${benchConfig({ cgroupParent: `${cgroupBase}-native-ns` }).replace('backend = "namespace"', 'backend = "linux-native"')}[isolation.backends.linux-native]\ncgroup_parent = ${JSON.stringify(`${cgroupBase}-native`)}\n`;
  const [ll, ns] = await Promise.all([
    startDaemon({ name: 'native', config: llConfig, ...daemonArgs('native') }),
    startDaemon({ name: 'native-ns', config: benchConfig({ cgroupParent: `${cgroupBase}-native-ns` }), ...daemonArgs('native-ns') }),
  ]);
  await withCleanup(() => Promise.allSettled([ll.stop(), ns.stop()]));
  const [llClient, nsClient] = [clientFor(ll), clientFor(ns)];
  const [llSbx, nsSbx] = await Promise.all([createSandbox(llClient), createSandbox(nsClient)]);
  await withCleanup(() => Promise.allSettled([llSbx.destroy(), nsSbx.destroy()]));
  const e = await interleaved({ linux_native_exec_true: () => execTrue(llSbx), ns: () => execTrue(nsSbx) }, { n: PLAN.latN, warmup: PLAN.latWarm });
  cases.linux_native_exec_true = summarize(e.linux_native_exec_true);
  diagnostics.ns_exec_true_native_group = { ...summarize(e.ns), note: 'ns_exec_true measured interleaved with linux_native_exec_true (same config, namespace backend)' };
  const llMs = [];
  const nsMs = [];
  await interleaved({ ll: async () => llMs.push(await createColdOnce(llClient)), ns: async () => nsMs.push(await createColdOnce(nsClient)) }, { n: PLAN.startN, warmup: PLAN.startWarm });
  cases.linux_native_create = summarize(llMs.slice(PLAN.startWarm));
  diagnostics.ns_create_native_group = { ...summarize(nsMs.slice(PLAN.startWarm)), note: 'ns_create measured interleaved with linux_native_create (both with the default per-sandbox disk volume)' };
  await runCleanupsOf(2);
}

async function e2bPhase() {
  if (!wants('e2b')) return;
  const { e2bGroup } = await import('./cases/e2b.js');
  log(`e2b: the stock e2b SDK next to agentd's SDK on one daemon (${PLAN.startN} rounds + ${PLAN.startWarm} warm-up)`);
  const daemon = await startDaemon({ name: 'e2b', config: benchConfig({ cgroupParent: `${cgroupBase}-e2b` }), ...daemonArgs('e2b') });
  await withCleanup(() => daemon.stop());
  const r = await e2bGroup({ daemon, client: clientFor(daemon), plan: PLAN });
  Object.assign(cases, r.cases);
  notes.push(...r.notes);
  await runCleanupsOf(1);
}

async function idlePhase() {
  if (!wants('idle')) return;
  log(`idle: ns_idle_500 (${PLAN.idle} idle namespace sandboxes)`);
  const daemon = await startDaemon({ name: 'idle', config: benchConfig({ cgroupParent: `${cgroupBase}-idle`, maxSandboxes: PLAN.idle + 16 }), ...daemonArgs('idle') });
  await withCleanup(() => daemon.stop({ graceMs: 120_000 }));
  const client = clientFor(daemon);
  const r = await idleMany(daemon, client, { count: PLAN.idle, concurrency: 8, settleMs: 2000 });
  cases.ns_idle_500 = {
    ...summarize(r.latencies),
    mib: round(r.mib, 1),
    pss_per_sandbox_mib: round(r.pss_per_sandbox_mib, 3),
    daemon_rss_mib: round(r.daemon_rss_mib, 1),
    create_all_s: round(r.create_all_s, 2),
    sandboxes: r.count,
    processes: r.processes,
  };
  diagnostics.ns_idle_500_by_process = r.by_process;
  diagnostics.ns_idle_500_destroy_all_s = round(r.destroy_all_s, 2);
  diagnostics.ns_idle_500_daemon_pss_mib = round(r.daemon_pss_mib, 1);
  diagnostics.ns_idle_500_memavailable_drop_mib = { value: round(r.memavailable_drop_mib, 1), note: 'MemAvailable before the creates minus after the settle: includes kernel memory, and anything else the machine did meanwhile' };
  await runCleanupsOf(1);
}

/** Issue 13: the OCI backends, each on a daemon of its own (cases/oci.js); gvisor is a group of its own. */
async function ociGroupPhase(group = 'oci') {
  if (!wants(group)) return;
  const { ociPhase } = await import('./cases/oci.js');
  const idle = QUICK ? 20 : 100;
  await ociPhase({
    backends: group === 'gvisor' ? ['gvisor'] : ['oci-runc', 'oci-crun'],
    startDaemon: (o) => startDaemon({ ...o, ...daemonArgs(o.name) }),
    baseConfig: (cgroupParent) => benchConfig({ cgroupParent, maxSandboxes: idle + 16 }),
    cli: PATHS.cli, cases, diagnostics, notes, log, cgroupBase, interleaved, summarize, round,
    plan: { startN: PLAN.startN, startWarm: PLAN.startWarm, latN: PLAN.latN, latWarm: PLAN.latWarm, idle },
  });
}

async function podmanPhase() {
  if (!wants('podman')) return;
  const { podmanConfig, openPodmanBaseline, podmanIdlePss } = await import('./cases/podman.js');
  const idleN = QUICK ? 20 : 100;
  log(`podman: podman_oneshot_true vs podman_create, podman_exec_true (${PLAN.startN} rounds + ${PLAN.startWarm} warm-up), podman_idle_${idleN}`);
  const daemon = await startDaemon({ name: 'podman', config: podmanConfig(benchConfig({ cgroupParent: `${cgroupBase}-podman`, disk: false, maxSandboxes: idleN + 16 })), ...daemonArgs('podman') });
  await withCleanup(() => daemon.stop({ graceMs: 120_000 }));
  const client = clientFor(daemon);
  const live = await createSandbox(client);
  await withCleanup(() => live.destroy());
  const base = openPodmanBaseline(daemon, live.id);
  const argv = await base.prepare();
  notes.push(`podman_oneshot_true runs: ${argv.join(' ')} (CONTAINERS_CONF and CONTAINERS_STORAGE_CONF of the daemon's podman service)`);
  const createMs = [];
  const s = await interleaved(
    { podman_oneshot_true: base.oneShotTrue, podman_create: async () => createMs.push(await createColdOnce(client)), podman_exec_true: () => execTrue(live) },
    { n: PLAN.startN, warmup: PLAN.startWarm },
  );
  cases.podman_oneshot_true = summarize(s.podman_oneshot_true);
  cases.podman_create = summarize(createMs.slice(PLAN.startWarm));
  cases.podman_exec_true = summarize(s.podman_exec_true);
  // Idle: N sandboxes, settled, PSS of their conmon and container processes.
  const idle = [];
  for (let i = 0; i < idleN; i++) idle.push(await createSandbox(client));
  await sleep(2000);
  const pss = await podmanIdlePss(daemon, idle.map((x) => x.id));
  cases[`podman_idle_${idleN}`] = { mib: round(pss.mib, 1), pss_per_sandbox_mib: round(pss.mib / idleN, 3), sandboxes: idleN, processes: pss.processes };
  for (const x of idle) await x.destroy();
  await runCleanupsOf(2);
}

let failed;
try {
  await mainPhase();
  await group('srt', srtPhase);
  await group('pool', poolPhase);
  await group('idle', idlePhase);
  await group('network', networkPhase);
  await group('interactive', interactivePhase);
  await group('oci', () => ociGroupPhase('oci'));
  await group('gvisor', () => ociGroupPhase('gvisor'));
  await group('e2b', e2bPhase);
  await group('native', nativePhase);
  await group('podman', podmanPhase);
} catch (err) {
  failed = err;
} finally {
  await runCleanups();
}
if (failed) {
  console.error(`bench: FAILED: ${failed.stack ?? failed}${failed?.cause ? `\ncaused by: ${failed.cause.stack ?? failed.cause}` : ""}${failed?.details ? `\ndetails: ${JSON.stringify(failed.details)}` : ""}`);
  process.exit(1);
}

machine.loadavg_end = loadavg();
machine.loadavg_by_group = Object.fromEntries(Object.entries(groupLoad).filter(([g]) => wants(g)));
const refusal = verdictRefusal(machine.loadavg_start);
const result = {
  date: new Date().toISOString(),
  mode: QUICK ? 'quick' : 'full',
  machine,
  duration_s: round((performance.now() - started) / 1000, 1),
  ...(refusal === undefined ? {} : { verdict_refused: refusal }),
  cases,
  targets: evaluateTargets(cases, diagnostics, refusal),
  diagnostics,
  notes,
};
const base = ONLY === undefined ? 'latest' : 'partial';
const files = writeReport(PATHS.results, base, result);
if (refusal !== undefined) log(`NO VERDICT: ${refusal}; the numbers are written all the same`);
for (const t of result.targets) log(`${t.status.padEnd(10)} ${t.target}: ${t.value ?? '-'}`);
log(`wrote ${files.json}, ${files.md}, ${files.svg} in ${result.duration_s} s`);
