/**
 * Fixtures for tests against the real agentd-init, spawned the way the host-direct backend
 * does: [initPath, '--fs-root', workspace, '--subreaper'] with the workspace as cwd.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { test } from 'vitest';
import { spawnInit, type SpawnedInit } from '../../src/channel/spawn.js';
import { nativePaths } from '../../src/native-paths.js';

export const INIT_PATH = nativePaths().init;
export const HAVE_INIT = existsSync(INIT_PATH);
if (!HAVE_INIT) console.warn(`skipping real agentd-init tests: ${INIT_PATH} is missing (build it with make -C packages/agentd/native)`);

export const PATH_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };

export interface LiveInit extends SpawnedInit {
  root: string;
}

export async function startInit(): Promise<LiveInit> {
  const root = await mkdtemp(join(tmpdir(), 'agentd-channel-'));
  try {
    const spawned = await spawnInit([INIT_PATH, '--fs-root', root, '--subreaper'], { cwd: root, env: PATH_ENV });
    return { ...spawned, root };
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

export async function stopInit(live: LiveInit): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (live.child.exitCode !== null || live.child.signalCode !== null) resolve();
    else live.child.once('exit', () => resolve());
  });
  if (!live.channel.isClosed) {
    await Promise.race([live.channel.shutdown().catch(() => undefined), sleep(2000)]);
  }
  if (live.child.pid !== undefined && live.child.exitCode === null && live.child.signalCode === null) {
    try {
      process.kill(-live.child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await exited;
  await rm(live.root, { recursive: true, force: true });
}

/** A test with a live init per test, always torn down. */
export const initTest = test.extend<{ live: LiveInit }>({
  // eslint-disable-next-line no-empty-pattern
  live: async ({}, use) => {
    const live = await startInit();
    try {
      await use(live);
    } finally {
      await stopInit(live);
    }
  },
});

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A token unique to one test, to find its processes in /proc by their command line. */
export function token(): string {
  // `sleep` takes fractional seconds: "3600.<digits>" is both a valid duration and a unique marker.
  return `3600.${BigInt(`0x${randomBytes(6).toString('hex')}`).toString().padStart(15, '0')}`;
}

/** Pids of live (non-zombie) processes whose command line contains `marker`. */
export async function processesWith(marker: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8');
      if (!cmdline.includes(marker)) continue;
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z') out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Waits until no live process carries `marker` (or the deadline passes), returning the survivors. */
export async function survivors(marker: string, withinMs = 2000): Promise<number[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const found = await processesWith(marker);
    if (found.length === 0 || Date.now() > deadline) return found;
    await sleep(50);
  }
}
