/**
 * Kills one exec's processes from outside the sandbox, without the init: for an init that
 * does not act on a SIGNAL in time (a sandbox saturated by a fork bomb or CPU spinners
 * starves it). Every process of an exec descends from its shepherd (docs/protocol.md), so
 * the daemon finds the shepherd among the descendants of the process it spawned (bwrap or
 * the init itself), by the pid the init reported (the innermost `NSpid` in
 * /proc/PID/status), and SIGKILLs every descendant of it, round after round until a scan
 * finds none: a process with SIGKILL pending can no longer fork. Only processes below the
 * spawned root can be hit, whatever pid a hostile init reports.
 */
import { readdir, readFile } from 'node:fs/promises';

interface Proc {
  pid: number;
  ppid: number;
  /** The pid in the innermost pid namespace. */
  nsPid: number;
}

async function readProc(pid: number): Promise<Proc | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const ppid = /^PPid:\s*(\d+)/m.exec(status);
    const ns = /^NSpid:\s*([\d\s]+)$/m.exec(status);
    const state = /^State:\s*(\S)/m.exec(status);
    if (ppid === null || state?.[1] === 'Z') return undefined;
    const levels = ns?.[1]?.trim().split(/\s+/) ?? [String(pid)];
    return { pid, ppid: Number(ppid[1]), nsPid: Number(levels[levels.length - 1]) };
  } catch {
    return undefined;
  }
}

async function scan(): Promise<Proc[]> {
  const names = await readdir('/proc');
  const out: Proc[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const p = await readProc(Number(name));
    if (p !== undefined) out.push(p);
  }
  return out;
}

/** Host pids of every live descendant of `root` (not `root` itself). */
function descendants(procs: Proc[], root: number): Set<number> {
  const byParent = new Map<number, number[]>();
  for (const p of procs) {
    const kids = byParent.get(p.ppid);
    if (kids === undefined) byParent.set(p.ppid, [p.pid]);
    else kids.push(p.pid);
  }
  const out = new Set<number>();
  const todo = [root];
  while (todo.length > 0) {
    for (const kid of byParent.get(todo.pop() as number) ?? []) {
      if (out.has(kid)) continue;
      out.add(kid);
      todo.push(kid);
    }
  }
  return out;
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone, or not ours
  }
}

/**
 * SIGKILLs every descendant of the exec's shepherd (or, if the shepherd is gone, of its
 * leader, and the leader) below the host process `rootPid`. Returns how many were killed.
 */
export async function killExecFromHost(rootPid: number, pids: { leader: number; shepherd: number }, maxRounds = 50): Promise<number> {
  let killed = 0;
  const seen = new Set<number>();
  for (let round = 0; round < maxRounds; round++) {
    const procs = await scan();
    const sandbox = descendants(procs, rootPid);
    const inSandbox = procs.filter((p) => sandbox.has(p.pid));
    const shepherd = pids.shepherd > 0 ? inSandbox.find((p) => p.nsPid === pids.shepherd) : undefined;
    const leader = inSandbox.find((p) => p.nsPid === pids.leader);
    const anchor = shepherd ?? leader;
    if (anchor === undefined) return killed;
    const victims = descendants(inSandbox, anchor.pid);
    if (shepherd === undefined && leader !== undefined) victims.add(leader.pid);
    let fresh = 0;
    for (const pid of victims) {
      kill(pid, 'SIGKILL');
      if (!seen.has(pid)) {
        seen.add(pid);
        fresh++;
      }
    }
    killed += fresh;
    // A stopped shepherd must run to reap what was killed and report the leader's end.
    if (shepherd !== undefined) kill(shepherd.pid, 'SIGCONT');
    if (victims.size === 0) return killed;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return killed;
}

/** The host pid of the init below `root`: the child of `root` that is PID 1 of its pid namespace, else `root` itself. */
export async function findInit(root: number): Promise<number> {
  try {
    for (const p of await scan()) if (p.ppid === root && p.nsPid === 1 && p.pid !== 1) return p.pid;
  } catch {
    // no /proc
  }
  return root;
}

/**
 * Kills `root` and every process below it, as seen from the host: the whole tree is
 * stopped first, round after round until a scan finds nobody new (a stopped process cannot
 * fork, and its children stay its children), then SIGKILLed at once. Used when an init
 * broke the protocol: nothing it started may outlive it, even where it is not the PID 1 of
 * a pid namespace (host-direct), or where it was started in its own session.
 */
export async function killTreeFromHost(root: number, maxRounds = 50): Promise<void> {
  const found = new Set<number>([root]);
  kill(root, 'SIGSTOP');
  for (let round = 0; round < maxRounds; round++) {
    const procs = await scan();
    let fresh = 0;
    for (const pid of descendants(procs, root)) {
      if (found.has(pid)) continue;
      found.add(pid);
      fresh++;
      kill(pid, 'SIGSTOP');
    }
    if (fresh === 0) break;
  }
  for (const pid of found) kill(pid, 'SIGKILL');
}
