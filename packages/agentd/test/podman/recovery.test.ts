/**
 * Recovery of the podman backend: a daemon SIGKILLed with sandboxes running leaves their
 * containers to podman; the next daemon's cleanupOrphans removes every container of this
 * home that its store does not keep (and no container of another home).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildDaemonSources } from '../namespace/child-build.js';
import { containerName } from '../../src/isolation/podman/index.js';
import { harness, native, noteSkip, sh, type Harness } from './fixture.js';

const HOLDER = fileURLToPath(new URL('./fixtures/holder.mjs', import.meta.url));

describe.skipIf(noteSkip('recovery'))('podman recovery', () => {
  let h: Harness;
  let other: Harness;
  let built: string | undefined;
  beforeAll(async () => {
    h = await harness();
    other = await harness();
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await other?.close();
    if (built !== undefined) await rm(built, { recursive: true, force: true });
  }, 120_000);

  test('after a daemon SIGKILL, cleanupOrphans removes the containers the store does not keep', async () => {
    built = await buildDaemonSources(['.'], 'agentd-podman-child-');
    const child = spawn(process.execPath, [HOLDER, built, h.home, '2'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AGENTD_INIT_PATH: native.init },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
    });
    const { ids } = JSON.parse(line) as { ids: string[] };
    expect(ids).toHaveLength(2);
    // A sandbox of another home on the same host: never touched by this home's recovery.
    const foreign = await other.start();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const api = await h.backend.apiFor(h.home);
    const exists = async (id: string): Promise<boolean> => (await api.raw('GET', `/containers/${containerName(h.home, id)}/exists`)).status === 204;
    expect(await exists(ids[0] as string)).toBe(true);
    expect(await exists(ids[1] as string)).toBe(true);
    // The killed daemon's attach streams closed: each init read EOF on its stdin and exited, taking its sandbox with it.
    const status = async (id: string): Promise<string | undefined> =>
      (JSON.parse((await api.raw('GET', `/containers/${containerName(h.home, id)}/json`)).body.toString()) as { State?: { Status?: string } }).State?.Status;
    for (const id of ids) {
      for (let i = 0; i < 100 && (await status(id)) === 'running'; i++) await new Promise((r) => setTimeout(r, 100));
      expect(['exited', 'stopped']).toContain(await status(id));
    }
    // The store keeps the second one: only the first goes.
    const removed = await h.backend.cleanupOrphans(h.home, [ids[1] as string]);
    expect(removed).toEqual([ids[0]]);
    expect(await exists(ids[0] as string)).toBe(false);
    expect(await exists(ids[1] as string)).toBe(true);
    expect(await h.backend.cleanupOrphans(h.home, [])).toEqual([ids[1]]);
    expect(await exists(ids[1] as string)).toBe(false);
    expect((await sh(foreign, 'echo alive')).stdout.toString()).toBe('alive\n');
  }, 300_000);
});
