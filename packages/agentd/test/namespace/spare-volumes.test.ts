/**
 * Spare disk volumes (isolation/disk/spare.ts): formatted and mounted ahead of demand, moved
 * into a new sandbox's empty root folder, removed with their mounts at start (a crashed
 * daemon's) and at stop. Root only (mount, loop devices).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MAX_SPARE_SIZES, SpareVolumes } from '../../src/isolation/disk/spare.js';
import { ensureVolume, findVolumeTools, isMountPoint, removeVolume, volumePaths, type VolumeTools } from '../../src/isolation/disk/volume.js';
import { startTestDaemon } from '../daemon/harness.js';
import { noteSkip, skipReason } from './fixture.js';

const MiB = 1024 * 1024;
const SIZE = 16 * MiB;

const found = skipReason === undefined ? await findVolumeTools() : { problem: skipReason };
const reason = found.tools === undefined ? (found.problem ?? 'no volume tools') : undefined;

async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Resolves once `spares` has a ready spare of `bytes` (refill runs in the background). */
/** A spare that is ready: its volume mounted and, the last step, the sandbox's three folders made in it. */
async function readySpare(dir: string): Promise<string> {
  const ready = async (spare: string): Promise<boolean> =>
    (await isMountPoint(join(spare, 'volume'))) && (await Promise.all(['workspace', 'home', 'tmp'].map((p) => stat(join(spare, 'volume', p)).then(() => true, () => false)))).every(Boolean);
  for (let i = 0; i < 200; i++) {
    for (const name of await readdir(dir)) if (await ready(join(dir, name))) return join(dir, name);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no spare volume appeared in ${dir}`);
}

describe.skipIf(noteSkip('spare disk volumes', reason))('spare disk volumes (root)', () => {
  let base: string;
  let tools: VolumeTools;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'agentd-spares-'));
    tools = found.tools as VolumeTools;
  });

  afterAll(async () => {
    for (const m of (await mountsUnder(base)).reverse()) await removeVolume(join(m, '..'), tools.umount).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  test('a crashed daemon\'s spare (mounted) is unmounted and removed at open', async () => {
    const dir = join(base, 'crashed');
    await mkdir(dir, { mode: 0o700 });
    const left = join(dir, 'leftover');
    await ensureVolume(left, SIZE, tools);
    expect(await isMountPoint(join(left, 'volume'))).toBe(true);
    const spares = await SpareVolumes.open(dir, tools, (err) => {
      throw err;
    });
    expect(await readdir(dir)).toEqual([]);
    expect(await mountsUnder(dir)).toEqual([]);
    await spares.close();
  });

  test('take: nothing before a refill; then the spare becomes the empty root, mounted, root-owned; a non-empty root is left alone; close removes the rest', async () => {
    const dir = join(base, 'spares');
    const errors: unknown[] = [];
    const spares = await SpareVolumes.open(dir, tools, (err) => errors.push(err));
    const sandboxes = join(base, 'sandboxes');
    await mkdir(sandboxes, { mode: 0o711 });

    const first = join(sandboxes, 'a');
    await mkdir(first, { mode: 0o711 });
    expect(await spares.take(first, SIZE)).toBe(false);
    expect(await readdir(first)).toEqual([]);

    spares.refill(SIZE);
    await readySpare(dir);
    // A root that holds something (a fork's seed, a restart) never gets a spare.
    const seeded = join(sandboxes, 'seeded');
    await mkdir(seeded, { mode: 0o711 });
    await writeFile(join(seeded, 'keep'), 'x');
    expect(await spares.take(seeded, SIZE)).toBe(false);
    expect(await readdir(seeded)).toEqual(['keep']);
    // Another size has no spare.
    expect(await spares.take(first, 2 * SIZE)).toBe(false);

    expect(await spares.take(first, SIZE)).toBe(true);
    const { image, mountPoint } = volumePaths(first);
    expect(await isMountPoint(mountPoint)).toBe(true);
    expect((await stat(image)).isFile()).toBe(true);
    const rootSt = await stat(mountPoint);
    expect([rootSt.uid, rootSt.mode & 0o7777]).toEqual([0, 0o755]);
    expect(await mountsUnder(first)).toEqual([mountPoint]);
    // ensureVolume finds it made and mounted: nothing to do.
    await ensureVolume(first, SIZE, tools);
    expect(await mountsUnder(first)).toEqual([mountPoint]);
    // The spare was consumed: none left for a second take until a refill.
    const second = join(sandboxes, 'b');
    expect(await spares.take(second, SIZE)).toBe(false);

    spares.refill(SIZE);
    await readySpare(dir);
    await spares.close();
    expect(await mountsUnder(dir)).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
    expect(await spares.take(second, SIZE)).toBe(false);
    expect(errors).toEqual([]);
    await removeVolume(first, tools.umount);
  });

  test(`spares are kept for the ${MAX_SPARE_SIZES} sizes used last: a new size evicts (unmounts, removes) the oldest`, async () => {
    const dir = join(base, 'sizes');
    const errors: unknown[] = [];
    const spares = await SpareVolumes.open(dir, tools, (err) => errors.push(err));
    const sizes = Array.from({ length: MAX_SPARE_SIZES + 1 }, (_, i) => SIZE + i * MiB);
    for (const size of sizes) spares.refill(size);
    // Let the making and the eviction finish: MAX_SPARE_SIZES folders, each mounted.
    for (let i = 0; i < 400; i++) {
      if ((await readdir(dir)).length === MAX_SPARE_SIZES && (await mountsUnder(dir)).length === MAX_SPARE_SIZES) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect((await readdir(dir)).length).toBe(MAX_SPARE_SIZES);
    expect((await mountsUnder(dir)).length).toBe(MAX_SPARE_SIZES);
    const root = join(base, 'sizes-root');
    expect(await spares.take(root, sizes[0]!)).toBe(false);
    expect(await spares.take(root, sizes.at(-1)!)).toBe(true);
    await removeVolume(root, tools.umount);
    await spares.close();
    expect(await mountsUnder(dir)).toEqual([]);
    expect(errors).toEqual([]);
  });

  test('a daemon: the second create with a disk limit takes the spare made after the first; the daemon\'s stop leaves no spare mounted', async () => {
    const d = await startTestDaemon();
    const spareDir = join(d.home, 'volume-spares');
    try {
      let spare: string | undefined;
      for (let i = 0; i < 2; i++) {
        const c = await d.call('POST', '/v1/sandboxes', { body: { limits: { disk_bytes: SIZE } } });
        expect(c.status).toBe(201);
        const id = (c.body as { id: string }).id;
        expect(await isMountPoint(join(d.home, 'sandboxes', id, 'volume'))).toBe(true);
        const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo hi > /workspace/f && cat /workspace/f' } });
        expect((r.body as { stdout: string }).stdout).toBe('hi\n');
        // The spare made after the first create was moved into the second sandbox.
        if (spare !== undefined) expect(await readdir(spareDir)).not.toContain(spare.split('/').at(-1));
        spare = await readySpare(spareDir);
      }
      await d.daemon.close();
      expect(await mountsUnder(spareDir)).toEqual([]);
      expect(await readdir(spareDir)).toEqual([]);
    } finally {
      await d.close();
    }
  });
});
