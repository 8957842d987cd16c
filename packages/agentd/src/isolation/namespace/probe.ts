import { spawn } from 'node:child_process';
import { access, constants, open, stat, type FileHandle } from 'node:fs/promises';
import type { BackendProbe, FeatureStatus, ProbeCache } from '../types.js';
import type { HostFacts } from './host-facts.js';
import { bwrapTestKey } from './probe-key.js';

const ok = (detail: string): FeatureStatus => ({ ok: true, detail });
const no = (detail: string): FeatureStatus => ({ ok: false, detail });

export interface ProbeInput {
  facts: HostFacts;
  initPath: string;
  seccompPath: string;
  /** Remembers a successful bwrap test run (keyed by probe-key.ts); absent: the test always runs. */
  cache?: ProbeCache;
}

/** The cache entry of the bwrap test run. */
export const USERNS_CACHE_ENTRY = 'namespace-userns';

/** The argv that runs `true` under bwrap with the backend's namespaces (and its filter on fd 3 when `withFilter`). */
function testArgv(facts: HostFacts, bwrapPath: string, initPath: string, withFilter: boolean): [string, ...string[]] {
  const args = ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--unshare-cgroup', '--disable-userns', '--uid', '1000', '--gid', '1000', '--die-with-parent', '--cap-drop', 'ALL', '--clearenv', '--setenv', 'PATH', '/usr/bin:/bin'];
  for (const e of facts.system) args.push(...(e.kind === 'dir' ? ['--ro-bind', e.path, e.path] : ['--symlink', e.target, e.path]));
  // Bind the init as a sandbox does: proves the sandbox's host uid can reach it.
  args.push('--proc', '/proc', '--dev', '/dev', '--ro-bind', initPath, '/.agentd/init');
  if (withFilter) args.push('--seccomp', '3');
  args.push('--', 'true');
  return facts.dropTo !== undefined && facts.dropWith?.kind === 'setpriv'
    ? [facts.dropWith.path, `--reuid=${facts.dropTo.uid}`, `--regid=${facts.dropTo.gid}`, '--clear-groups', '--', bwrapPath, ...args]
    : [bwrapPath, ...args];
}

async function runTest(facts: HostFacts, [file, ...rest]: [string, ...string[]], filter: FileHandle | undefined): Promise<FeatureStatus> {
  try {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(file, rest, { cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe', ...(filter ? [filter.fd] : [])], timeout: 10_000 });
      let stderr = '';
      child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stderr }));
    });
    const who = facts.dropTo === undefined ? `uid ${process.getuid?.()}` : `host uid ${facts.dropTo.uid}`;
    return result.code === 0 ? ok(`bwrap ran a sandbox as ${who}`) : no(`bwrap failed as ${who}: ${result.stderr.trim() || `exit ${result.code}`}`);
  } catch (err) {
    return no(`cannot run bwrap: ${(err as Error).message}`);
  }
}

/**
 * Runs `true` under bwrap with the backend's namespaces and filter: proves user namespaces
 * work for the uid sandboxes run as. With a cache, a success stored under the same key
 * (probe-key.ts) stands in for the run; only successes are stored.
 */
async function tryBwrap(facts: HostFacts, bwrapPath: string, initPath: string, seccompPath: string | undefined, cache: ProbeCache | undefined): Promise<FeatureStatus> {
  const filter = seccompPath === undefined ? undefined : await open(seccompPath, 'r').catch(() => undefined);
  try {
    const argv = testArgv(facts, bwrapPath, initPath, filter !== undefined);
    if (cache === undefined) return await runTest(facts, argv, filter);
    const dropTool = facts.dropWith?.kind === 'setpriv' ? [facts.dropWith.path] : [];
    const files = [bwrapPath, initPath, ...(filter !== undefined && seccompPath !== undefined ? [seccompPath] : []), ...dropTool];
    // Taken before the run: whatever changes from here on makes the next key differ.
    const key = bwrapTestKey({ argv, files });
    const cached = await cache.get(USERNS_CACHE_ENTRY, key);
    if (cached?.ok === true) return ok(`${cached.detail ?? 'bwrap ran a sandbox'} (remembered from an earlier probe)`);
    const status = await runTest(facts, argv, filter);
    if (status.ok) await cache.set(USERNS_CACHE_ENTRY, key, status);
    return status;
  } finally {
    await filter?.close();
  }
}

async function seccompStatus(path: string): Promise<FeatureStatus> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) return no(`seccomp filter ${path} is missing; build it with 'npm run build:native'`);
  if (st.size === 0 || st.size % 8 !== 0) return no(`seccomp filter ${path} is not a BPF program (${st.size} bytes)`);
  return ok(`baseline filter ${path} (${st.size / 8} BPF instructions), loaded by bwrap with no_new_privs`);
}

/** What the namespace backend enforces on this host, each feature with the reason when missing. */
export async function probeNamespace({ facts, initPath, seccompPath, cache }: ProbeInput): Promise<BackendProbe> {
  const seccomp = await seccompStatus(seccompPath);
  const init = await access(initPath, constants.X_OK).then(() => ok(initPath), () => no(`agentd-init not found at ${initPath}; build it with 'npm run build:native'`));
  const bwrap = facts.bwrapPath === undefined ? no(facts.bwrapProblem ?? 'bwrap missing') : ok(`${facts.bwrapPath} (${facts.bwrapVersion ?? 'unknown version'})`);
  const userns = facts.bwrapPath === undefined ? no('bwrap missing') : facts.dropProblem !== undefined ? no(facts.dropProblem) : await tryBwrap(facts, facts.bwrapPath, initPath, seccomp.ok ? seccompPath : undefined, cache);

  const cg = facts.cgroup;
  const why = (fallback: string): string => facts.cgroupProblem ?? fallback;
  const controller = (name: 'memory' | 'pids' | 'cpu' | 'freezer'): FeatureStatus => cg?.controllers[name] ?? no(why('no cgroup probe'));
  const cgroupStatus = cg === undefined
    ? no(why('cgroups not probed'))
    : Object.values(cg.controllers).some((c) => c.ok) ? ok(`cgroup ${cg.version}`) : no(`cgroup ${cg.version}: no controller is usable by this process (unprivileged without delegation?)`);

  const problems = [bwrap, init, seccomp, userns].filter((s) => !s.ok).map((s) => s.detail);
  const hostUid = facts.dropTo === undefined
    ? ok(`sandboxes run as this daemon's uid ${process.getuid?.()} (uid 1000 inside)`)
    : ok(`the daemon is root: each sandbox runs as its own host uid (uid 1000 inside) from ${facts.uidRange?.start ?? '?'}..${(facts.uidRange?.start ?? 0) + (facts.uidRange?.count ?? 0) - 1}, never as host root; the probe runs as ${facts.dropTo.uid}`);
  return {
    backend: 'namespace',
    available: problems.length === 0,
    ...(problems.length > 0 ? { reason: problems.join('; ') } : {}),
    isolation: 'kernel',
    features: {
      filesystem: userns.ok ? ok('mount namespace: system dirs read-only, own /workspace /home/agent /tmp, own /proc and minimal /dev') : no(userns.detail ?? ''),
      network: userns.ok ? ok("network 'none': empty network namespace (loopback only); 'allowlist': the same empty namespace, its only way out the init's relay to the daemon's egress proxy (docs/network.md); 'host' for workstation") : no(userns.detail ?? ''),
      pidNamespace: userns.ok ? ok('pid, ipc, uts, cgroup and user namespaces') : no(userns.detail ?? ''),
      seccomp,
      memoryLimit: controller('memory'),
      pidsLimit: controller('pids'),
      cpuLimit: controller('cpu'),
      suspend: controller('freezer'),
      bwrap,
      agentdInit: init,
      userNamespace: userns,
      cgroup: cgroupStatus,
      hostUid,
      rlimits: ok('open files and core size, set by the launcher'),
    },
  };
}
