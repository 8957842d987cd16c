/**
 * Issue 13, the OCI backends (oci-runc, oci-crun, gvisor), each on a daemon of its own whose
 * default backend it is:
 *   <B>_create       a sandbox created through the API, to ready (its destroy not timed)
 *   <B>_oneshot_true the runtime's own one-shot `run` of `true` on the same bundle (the
 *                    config.json of a live sandbox of that daemon, its process replaced by
 *                    /bin/true and its cgroup by the runtime's default), interleaved with it
 *   <B>_exec_true    `true` through the API in a live sandbox
 *   <B>_idle_<N>     N idle sandboxes: PSS per sandbox of everything under the daemon
 * A backend whose probe says it cannot run here is skipped, with its reason in the notes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importAgentd } from '../lib/paths.js';
import { clientFor, createColdOnce, createSandbox, execTrue } from './api.js';
import { idleMany } from './idle.js';

const RUNTIME = { 'oci-runc': 'runc', 'oci-crun': 'crun', gvisor: 'runsc' };
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Whether `agentd doctor` says backend `name` works here (and why not). */
export function ociAvailability(cli, name) {
  const out = execFileSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8', env: { ...process.env, PATH } });
  const b = JSON.parse(out).backends.find((x) => x.backend === name);
  return b?.available === true ? { ok: true } : { ok: false, reason: b?.reason ?? 'not listed by agentd doctor' };
}

/** The daemon's config with backend `name` as its default (the bench's namespace config otherwise unchanged). */
export function ociConfig(base, name) {
  return base
    .replace('backend = "namespace"', `backend = "${name}"`)
    .replace('[isolation.backends.namespace]', `[isolation.backends.${name}]`)
    // gVisor counts no processes and cannot stop one command at a memory limit (its probe says so): the profile's defaults are dropped for it.
    .replace('[sandbox]', name === 'gvisor' ? '[sandbox.limits]\npids = 0\ndisk_bytes = 0\nmemory_bytes = 0\n[sandbox]' : '[sandbox]');
}

/**
 * A one-shot runner of `true` under the runtime on a copy of a live sandbox's bundle: same
 * root file system, mounts, namespaces and user ids; `true` instead of agentd-init.
 */
export function oneshotRunner(daemon, name, sandboxId) {
  const rt = RUNTIME[name];
  const dir = mkdtempSync(join(tmpdir(), `agentd-bench-oneshot-${rt}-`));
  const config = JSON.parse(readFileSync(join(daemon.home, 'sandboxes', sandboxId, '.oci', 'config.json'), 'utf8'));
  config.process.args = ['/bin/true'];
  delete config.linux.cgroupsPath;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const flags = rt === 'runsc' ? ['--platform=ptrace', '--network=none'] : [];
  // crun here needs the hybrid-cgroup workaround: the one the daemon's own crun calls use
  // (isolation/oci/runtime.ts crunWorkaround: the native agentd-nounified when built), so the
  // baseline pays exactly what agentd pays for it, no more.
  let wrap = rt === 'crun' ? undefined : [];
  let n = 0;
  return {
    async once() {
      wrap ??= await (await importAgentd('isolation/oci/runtime.js')).crunWorkaround();
      const id = `bench-${process.pid}-${n++}`;
      const argv = [...wrap, rt, '--root', join(dir, 'state'), ...flags, 'run', '--bundle', dir, ...(rt === 'runsc' ? [] : ['--no-new-keyring']), id];
      await new Promise((resolve, reject) => {
        const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH } });
        let err = '';
        child.stderr.on('data', (c) => (err += c));
        child.once('error', reject);
        child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${rt} run true exited ${code}: ${err.trim().split('\n').pop()}`))));
      });
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The group: for each backend, create vs one-shot run (interleaved), exec_true, idle PSS.
 * `ctx`: { backends (default all three), startDaemon, baseConfig(cgroupParent), cli, cases, diagnostics, notes, log, plan: { startN, startWarm, latN, latWarm, idle }, withCleanup }.
 */
export async function ociPhase(ctx) {
  const { cases, diagnostics, notes, log, plan } = ctx;
  for (const name of ctx.backends ?? ['oci-runc', 'oci-crun', 'gvisor']) {
    const avail = ociAvailability(ctx.cli, name);
    const key = name.replace('-', '_');
    if (!avail.ok) {
      notes.push(`${name}: skipped, not available here: ${avail.reason}`);
      log(`oci: ${name} skipped: ${avail.reason}`);
      continue;
    }
    const daemon = await ctx.startDaemon({ name, config: ociConfig(ctx.baseConfig(`${ctx.cgroupBase}-${name}`), name) });
    try {
      const client = clientFor(daemon);
      const live = await createSandbox(client);
      const oneshot = oneshotRunner(daemon, name, live.id);
      try {
        log(`oci: ${key}_create vs ${key}_oneshot_true (${plan.startN} rounds + ${plan.startWarm} warm-up)`);
        const createMs = [];
        const s = await ctx.interleaved(
          { [`${key}_oneshot_true`]: () => oneshot.once(), [`${key}_create`]: async () => createMs.push(await createColdOnce(client)) },
          { n: plan.startN, warmup: plan.startWarm },
        );
        cases[`${key}_oneshot_true`] = ctx.summarize(s[`${key}_oneshot_true`]);
        cases[`${key}_create`] = ctx.summarize(createMs.slice(plan.startWarm));
        log(`oci: ${key}_exec_true (${plan.latN} rounds + ${plan.latWarm} warm-up)`);
        const e = await ctx.interleaved({ [`${key}_exec_true`]: () => execTrue(live) }, { n: plan.latN, warmup: plan.latWarm });
        cases[`${key}_exec_true`] = ctx.summarize(e[`${key}_exec_true`]);
      } finally {
        oneshot.close();
        await live.destroy();
      }
      const count = plan.idle;
      log(`oci: ${key}_idle_${count} (${count} idle sandboxes)`);
      const r = await idleMany(daemon, client, { count, concurrency: 4, settleMs: 2000 });
      cases[`${key}_idle_${count}`] = { ...ctx.summarize(r.latencies), pss_per_sandbox_mib: ctx.round(r.pss_per_sandbox_mib, 3), mib: ctx.round(r.mib, 1), sandboxes: r.count, processes: r.processes };
      diagnostics[`${key}_idle_${count}_by_process`] = r.by_process;
    } finally {
      await daemon.stop({ graceMs: 120_000 });
    }
  }
  notes.push('oci_*: <B>_oneshot_true is the runtime\'s own `run` of /bin/true on a copy of a live sandbox\'s bundle (same root, mounts, namespaces, uid maps; no cgroupsPath, no agentd-init); <B>_create is a sandbox create through the API to READY (includes the per-sandbox disk volume of the workstation profile, as ns_create does); crun, both cases: behind the daemon\'s own hybrid-cgroup workaround (crunWorkaround: agentd-nounified)');
}

