/** Test helpers: start a program inside a sandbox cgroup, wait for its output and exit. */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CgroupDriver } from '../../src/isolation/cgroup/index.js';

/**
 * Until agentd-init's launcher exists: a shell writes its own pid into every cgroup.procs
 * file, then execs the program, so the program and all its children start inside the group.
 */
const ENTER_AND_EXEC = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"';

export function spawnInCgroup(procsFiles: string[], argv: string[]): ChildProcess {
  return spawn('/bin/sh', ['-c', ENTER_AND_EXEC, 'sh', String(procsFiles.length), ...procsFiles, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
export function isolatedDriver(): { driver: CgroupDriver; teardown(): Promise<void> } {
  const parent = `agentd-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const driver = new CgroupDriver({ parent });
  return {
    driver,
    async teardown() {
      await driver.cleanupOrphans([]);
      const layout = await driver.layout();
      const mounts = new Set([...Object.values(layout.v1), ...(layout.unified === undefined ? [] : [layout.unified])]);
      for (const mount of mounts) await rmdir(join(mount, parent)).catch(() => undefined);
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
