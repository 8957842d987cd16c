/** Test helpers: start a program inside a sandbox cgroup, wait for its output and exit. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CgroupDriver } from '../../src/isolation/cgroup/index.js';
import { nativePaths } from '../../src/native-paths.js';

/**
 * Fallback when agentd-init is not built: a shell writes its own pid into every
 * cgroup.procs file, then execs the program.
 */
const ENTER_AND_EXEC = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"';

export const initPath = nativePaths().init;
export const haveInit = existsSync(initPath);

/**
 * Starts `argv` so that it and all its children are inside the group from the start: through
 * `agentd-init --launch --cgroup-procs FILE... -- PROGRAM` when it is built (as the backends
 * do), else through the shell above.
 */
export function spawnInCgroup(procsFiles: string[], argv: string[], via: 'init' | 'sh' = haveInit ? 'init' : 'sh'): ChildProcess {
  const args =
    via === 'init'
      ? [initPath, '--launch', ...procsFiles.flatMap((f) => ['--cgroup-procs', f]), '--', ...argv]
      : ['/bin/sh', '-c', ENTER_AND_EXEC, 'sh', String(procsFiles.length), ...procsFiles, ...argv];
  const [program, ...rest] = args as [string, ...string[]];
  return spawn(program, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Resolves with the first stdout line matching `re`; rejects on exit or after `timeoutMs`. */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      fn();
    };
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n').find((l) => re.test(l));
      if (line !== undefined) done(() => resolve(line));
    };
    const onExit = (code: number | null, signal: string | null): void =>
      done(() => reject(new Error(`exited (code ${code}, signal ${signal}) before printing ${re}; output: ${buffered}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; output: ${buffered}`))), timeoutMs);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * A driver with a parent group of its own, so cleanupOrphans in one test file can never
 * touch the sandboxes of another test file (or of a daemon) running at the same time.
 */
export function isolatedDriver(): { driver: CgroupDriver; teardown: () => Promise<void> } {
  const parent = `agentd-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const driver = new CgroupDriver({ parent });
  return {
    driver,
    teardown: async () => {
      await driver.cleanupOrphans([]);
      await driver.removeParent();
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
