import type { HostIds } from '../host-ids.js';
import type { SandboxLimits } from '../types.js';

/** The host uid/gid a root daemon runs a sandbox as: its own, from the range (see ../host-ids.ts). */
export type { HostIds };

export interface LaunchInput {
  /** Host path of agentd-init (its `--launch` mode starts the sandbox). */
  initPath: string;
  bwrapPath: string;
  bwrapArgs: string[];
  /** cgroup.procs files the launcher joins before anything else runs. */
  cgroupProcs: string[];
  limits: SandboxLimits;
  /**
   * Set when the daemon is root: bwrap then runs as this unprivileged host uid, so the
   * sandbox's uid 1000 maps to it and not to host root.
   */
  dropTo?: HostIds;
  /** How the launcher drops to `dropTo`: its own `--uid/--gid` flags, or setpriv(1) in between. */
  dropWith?: { kind: 'launcher' } | { kind: 'setpriv'; path: string };
}

/**
 * The argv that starts a namespace sandbox:
 * `agentd-init --launch [--cgroup-procs F]... [--rlimit ...] -- [drop] bwrap ARGS... /.agentd/init --fs-root /`.
 * The launcher joins the cgroup and sets the rlimits in the process that then execs bwrap,
 * so every process of the sandbox starts limited, with no window in between.
 */
export function launchArgv(inp: LaunchInput): string[] {
  const argv = [inp.initPath, '--launch'];
  for (const f of inp.cgroupProcs) argv.push('--cgroup-procs', f);
  argv.push('--rlimit', `core=${inp.limits.coreBytes ?? 0}`);
  if (inp.limits.openFiles !== undefined) argv.push('--rlimit', `nofile=${inp.limits.openFiles}`);
  const drop = inp.dropTo;
  if (drop !== undefined && inp.dropWith?.kind === 'launcher') argv.push('--uid', String(drop.uid), '--gid', String(drop.gid));
  argv.push('--');
  if (drop !== undefined && inp.dropWith?.kind === 'setpriv') {
    argv.push(inp.dropWith.path, `--reuid=${drop.uid}`, `--regid=${drop.gid}`, '--clear-groups', '--');
  }
  argv.push(inp.bwrapPath, ...inp.bwrapArgs);
  return argv;
}
