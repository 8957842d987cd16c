/**
 * The namespace backend used directly from this process (no daemon, no HTTP): for
 * ns_exec_true_direct, and to build bwrap_oneshot_true from the backend's own flags.
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importAgentd, PATHS } from '../lib/paths.js';

const [{ NamespaceBackend }, { sandboxDirs }, { runCommand }, { silentLogger }, { gatherHostFacts }, { parseNamespaceOptions }, { CgroupDriver }, { planMounts }, { bwrapArgs }, { launchArgv }, { sandboxFiles }] =
  await Promise.all([
    importAgentd('isolation/namespace/backend.js'),
    importAgentd('isolation/dirs.js'),
    importAgentd('channel/index.js'),
    importAgentd('util/logger.js'),
    importAgentd('isolation/namespace/host-facts.js'),
    importAgentd('isolation/namespace/options.js'),
    importAgentd('isolation/cgroup/index.js'),
    importAgentd('isolation/namespace/mounts.js'),
    importAgentd('isolation/namespace/bwrap-args.js'),
    importAgentd('isolation/namespace/launch.js'),
    importAgentd('isolation/namespace/sandbox-files.js'),
  ]);

/** The spec the daemon builds for a plain create under the bench config (workstation, network none, pids 4096). */
function specFor(home, id) {
  return {
    id, profile: 'workstation', dirs: sandboxDirs(home, id), env: {}, network: 'none', limits: { pids: 4096 },
    allowedPathsRo: [], allowedPathsRw: [], bindMounts: [], denyPaths: [], labels: {},
  };
}

export async function openDirect({ cgroupParent }) {
  const home = mkdtempSync(join(tmpdir(), 'agentd-bench-direct-'));
  chmodSync(home, 0o711);
  const options = { cgroup_parent: cgroupParent };
  const backend = new NamespaceBackend(PATHS.init, silentLogger, options);
  const live = await backend.start(specFor(home, 'sbx_benchdirect'));
  await live.channel.ready;

  /** `true` through the live sandbox's channel, the way the exec capability runs it. */
  async function execTrue() {
    const r = await runCommand(live.channel, { argv: ['true'], env: live.baseEnv });
    if (r.exitCode !== 0) throw new Error(`true exited ${r.exitCode} in the direct sandbox`);
  }

  // One-shot bwrap: the backend's own flags for the live sandbox's spec, `true` instead of the init.
  const facts = await gatherHostFacts(parseNamespaceOptions(options), new CgroupDriver({ parent: cgroupParent }));
  if (facts.bwrapPath === undefined) throw new Error(`bench: bwrap is unavailable: ${facts.bwrapProblem}`);
  const plan = planMounts({ spec: live.spec, system: facts.system, initPath: PATHS.init, ...sandboxFiles(live.spec.dirs), hostMounts: [], denyKinds: {} });
  const args = bwrapArgs({ spec: live.spec, mounts: plan.mounts, seccompFd: 3 });
  const oneShot = [...args.slice(0, args.indexOf('--')), '--', '/usr/bin/true'];
  // The backend's own launch line (launcher rlimits, and as root the drop to the sandbox's
  // host uid), without the cgroup: bwrap with the same flags, running `true`. Each sandbox has
  // a host uid of its own (its lease): the one owning the live sandbox's workspace.
  const owner = statSync(live.spec.dirs.workspace);
  const dropTo = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : undefined;
  const bwrapArgv = launchArgv({
    initPath: PATHS.init, bwrapPath: facts.bwrapPath, bwrapArgs: oneShot, cgroupProcs: [], limits: live.spec.limits,
    ...(dropTo === undefined ? {} : { dropTo }),
    ...(facts.dropWith === undefined ? {} : { dropWith: facts.dropWith }),
  });

  function bwrapTrue() {
    const fd = openSync(PATHS.seccomp, 'r');
    return new Promise((resolve, reject) => {
      const c = spawn(bwrapArgv[0], bwrapArgv.slice(1), { stdio: ['ignore', 'pipe', 'pipe', fd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.once('error', reject);
      c.once('close', (code) => {
        closeSync(fd);
        if (code === 0) resolve();
        else reject(new Error(`one-shot bwrap exited ${code}: ${err.trim()}`));
      });
    });
  }

  return {
    execTrue,
    bwrapTrue,
    bwrapArgv,
    asRootDrop: dropTo !== undefined,
    async close() {
      await live.destroy();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
