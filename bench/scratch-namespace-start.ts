/**
 * Namespace backend timings, medians from one run:
 *   - create-to-ready of a namespace sandbox (backend.start() until agentd-init's READY),
 *     against a one-shot `bwrap <the same flags> true` spawned from Node;
 *   - exec latency of `true` in a live namespace sandbox, against Node's spawn('/bin/true').
 * Run (as the daemon's user; root uses the cgroup and the host-uid drop):
 *   npx rolldown bench/scratch-namespace-start.ts --platform node --format esm -o /tmp/nsbench.mjs &&
 *   AGENTD_INIT_PATH=$PWD/packages/agentd/native/build/agentd-init AGENTD_SECCOMP_BPF=$PWD/packages/agentd/native/build/seccomp.bpf node /tmp/nsbench.mjs
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCommand } from '../packages/agentd/src/channel/index.js';
import { CgroupDriver } from '../packages/agentd/src/isolation/cgroup/index.js';
import { sandboxDirs } from '../packages/agentd/src/isolation/dirs.js';
import { bwrapArgs } from '../packages/agentd/src/isolation/namespace/bwrap-args.js';
import { NamespaceBackend } from '../packages/agentd/src/isolation/namespace/backend.js';
import { gatherHostFacts } from '../packages/agentd/src/isolation/namespace/host-facts.js';
import { planMounts } from '../packages/agentd/src/isolation/namespace/mounts.js';
import { parseNamespaceOptions } from '../packages/agentd/src/isolation/namespace/options.js';
import type { SandboxSpec } from '../packages/agentd/src/isolation/types.js';
import { nativePaths } from '../packages/agentd/src/native-paths.js';
import { silentLogger } from '../packages/agentd/src/util/logger.js';

const STARTS = Number(process.env.STARTS ?? 30);
const EXECS = Number(process.env.EXECS ?? 200);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function spawnWait(file: string, args: string[], extraFds: number[] = []): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = spawn(file, args, { stdio: ['ignore', 'ignore', 'inherit', ...extraFds], env: { PATH: '/usr/bin:/bin' } });
    c.once('error', reject);
    c.once('close', (code) => resolve(code));
  });
}

const home = mkdtempSync(join(tmpdir(), 'agentd-nsbench-'));
chmodSync(home, 0o711);
const native = nativePaths();
const spec = (id: string): SandboxSpec => ({
  id, profile: 'server', dirs: sandboxDirs(home, id), env: {}, network: 'none', limits: {},
  allowedPathsRo: [], allowedPathsRw: [], bindMounts: [], denyPaths: [], labels: {},
});

try {
  const backend = new NamespaceBackend(native.init, silentLogger, {});
  // Warm up (host facts, cgroup plan, page cache).
  for (let i = 0; i < 3; i++) await (await backend.start(spec(`warm-${i}`))).destroy();

  const starts: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const t = performance.now();
    const sbx = await backend.start(spec(`s-${i}`));
    starts.push(performance.now() - t);
    await sbx.destroy();
  }

  // The same bwrap flags and filter, running `true` instead of the init, with the same uid drop.
  const facts = await gatherHostFacts(parseNamespaceOptions({}), new CgroupDriver());
  const live = await backend.start(spec('exec'));
  const plan = planMounts({ spec: live.spec, system: facts.system, initPath: native.init, passwdFile: join(live.spec.dirs.root, '.ns-passwd'), groupFile: join(live.spec.dirs.root, '.ns-group'), maskFile: join(live.spec.dirs.root, '.ns-mask'), denyKinds: {} });
  const args = bwrapArgs({ spec: live.spec, mounts: plan.mounts, seccompFd: 3 });
  const oneShot = [...args.slice(0, args.indexOf('--')), '--', '/usr/bin/true'];
  const drop = facts.dropTo !== undefined && facts.dropWith?.kind === 'setpriv' ? [facts.dropWith.path, `--reuid=${facts.dropTo.uid}`, `--regid=${facts.dropTo.gid}`, '--clear-groups', '--'] : [];
  const argv = [...drop, facts.bwrapPath as string, ...oneShot];
  const bwraps: number[] = [];
  for (let i = 0; i < STARTS + 3; i++) {
    const fd = openSync(native.seccompBpf, 'r');
    const t = performance.now();
    const code = await spawnWait(argv[0] as string, argv.slice(1), [fd]);
    if (i >= 3) bwraps.push(performance.now() - t);
    closeSync(fd);
    if (code !== 0) throw new Error(`one-shot bwrap exited ${code}`);
  }

  const env = { PATH: '/usr/bin:/bin' };
  const execs: number[] = [];
  for (let i = 0; i < EXECS + 10; i++) {
    const t = performance.now();
    const r = await runCommand(live.channel, { argv: ['true'], env });
    if (i >= 10) execs.push(performance.now() - t);
    if (r.exitCode !== 0) throw new Error('true failed in the sandbox');
  }
  const spawns: number[] = [];
  for (let i = 0; i < EXECS + 10; i++) {
    const t = performance.now();
    await spawnWait('/bin/true', []);
    if (i >= 10) spawns.push(performance.now() - t);
  }
  await live.destroy();

  const r = (x: number): string => x.toFixed(2);
  const rows = {
    namespace_start_to_ready_ms: r(median(starts)),
    oneshot_bwrap_true_ms: r(median(bwraps)),
    start_ratio: r(median(starts) / median(bwraps)),
    exec_true_in_sandbox_ms: r(median(execs)),
    node_spawn_true_ms: r(median(spawns)),
    exec_ratio: r(median(execs) / median(spawns)),
    as_root_with_uid_drop: facts.dropTo !== undefined,
    starts: STARTS,
    execs: EXECS,
  };
  console.log(JSON.stringify(rows, null, 2));
} finally {
  rmSync(home, { recursive: true, force: true });
}
