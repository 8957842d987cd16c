/**
 * Rename races against the root daemon's tree work. A process inside a running sandbox
 * swaps, as fast as it can, a real folder and a symlink to a root-owned decoy (renameat2
 * RENAME_EXCHANGE, so one of the two names is always a symlink somewhere in the walk), while
 * the daemon snapshots, restores and removes the sandbox's folders. The sandbox is left
 * running on purpose: it stands for a process of the sandbox's host uid that the daemon did
 * not stop (no freezer, a survivor), the case the tree work must be safe against by itself.
 * Every round: the decoy is untouched and no snapshot holds the decoy's root-only secret.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { removeSandboxDirs } from '../../src/isolation/dirs.js';
import { createSnapshot, restoreSnapshot } from '../../src/isolation/snapshot/index.js';
import { runCommand } from '../../src/channel/lifecycle.js';
import { harness, noteSkip, type Harness } from '../namespace/fixture.js';
import { SECRET, expectUntouched, filesContaining, hostfsSkip, makeDecoy, type Decoy } from './hostfs-fixture.js';

const skip = noteSkip('hostfs rename races', hostfsSkip);

const ROUNDS = 6;
const NAMES = ['passwd', 'shadow', 'shared', ...Array.from({ length: 40 }, (_, i) => `f${i}`)];

/** Swaps /workspace/d (a real folder holding the decoy's names) with /workspace/e (a symlink to the decoy) until killed. */
const SWAPPER = `
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
AT = -100
target = sys.argv[1].encode()
names = sys.argv[2].split(',')
def setup():
    for p in ('d', 'e'):
        try:
            if os.path.islink(p) or os.path.isfile(p): os.unlink(p)
        except OSError: pass
    try: os.makedirs('d/sub', exist_ok=True)
    except OSError: pass
    for n in names:
        try:
            with open('d/' + n, 'w') as f: f.write('mine\\n')
        except OSError: pass
    try: os.symlink(target, b'e')
    except OSError: pass
os.chdir('/workspace')
setup()
open('/tmp/swapper-ready', 'w').close()
deadline = time.time() + 90
while time.time() < deadline:
    for _ in range(2000):
        if libc.renameat2(AT, b'd', AT, b'e', 2) != 0:
            try: os.chdir('/workspace')
            except OSError: pass
            setup()
`;

async function waitFor(path: string): Promise<void> {
  const { existsSync } = await import('node:fs');
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(path)) throw new Error(`${path} never appeared`);
}

describe.skipIf(skip)('rename races while the daemon works on a sandbox’s folders', () => {
  let h: Harness;
  let decoy: Decoy;
  let before: Record<string, unknown>;
  let snaps: string;

  beforeEach(async () => {
    h = await harness();
    decoy = await makeDecoy(NAMES.filter((n) => n.startsWith('f')));
    before = await decoy.snapshot();
    snaps = await mkdtemp(join(tmpdir(), 'agentd-hostfs-race-'));
  });
  afterEach(async () => {
    await h.close().catch(() => undefined);
    await decoy.close();
    await rm(snaps, { recursive: true, force: true });
  });

  test(`snapshot, restore and remove under a dir/symlink swap loop, ${ROUNDS} rounds: the decoy is never touched or copied`, async () => {
    const outcomes: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const sbx = await h.start({ id: `race-${round}` });
      const swapOnce = async (): Promise<() => Promise<void>> => {
        const stop = new AbortController();
        await rm(join(sbx.spec.dirs.tmp, 'swapper-ready'), { force: true });
        const swapper = runCommand(sbx.channel, { argv: ['python3', '-c', SWAPPER, decoy.dir, NAMES.join(',')], env: { PATH: '/usr/bin:/bin' } }, { timeoutMs: 120_000, signal: stop.signal })
          .catch(() => undefined);
        await waitFor(join(sbx.spec.dirs.tmp, 'swapper-ready'));
        return async () => {
          stop.abort();
          await swapper;
        };
      };
      let stopSwapper = await swapOnce();

      const snap = await createSnapshot(sbx.spec.dirs, snaps, `s${round}`).then((s) => s, (err: Error) => err);
      outcomes.push(`snapshot:${snap instanceof Error ? 'failed' : 'ok'}`);
      // Snapshots are the daemon's alone, out of the swapper's reach: walking them is not racy.
      if (!(snap instanceof Error)) expect(await filesContaining(snap.dir, SECRET.trim())).toEqual([]);
      await expectUntouched(decoy, before);

      const base = snap instanceof Error ? await createSnapshot(sbx.spec.dirs, snaps, `b${round}`).catch(() => undefined) : snap;
      if (base !== undefined) {
        expect(await filesContaining(base.dir, SECRET.trim())).toEqual([]);
        const restored = await restoreSnapshot(base.dir, sbx.spec.dirs).then(() => 'ok', () => 'failed');
        outcomes.push(`restore:${restored}`);
        await expectUntouched(decoy, before);
      }
      // The workspace is checked with the swapper stopped (else this walk itself would race).
      await stopSwapper();
      expect(await filesContaining(sbx.spec.dirs.workspace, SECRET.trim())).toEqual([]);

      stopSwapper = await swapOnce();
      const removed = await removeSandboxDirs(sbx.spec.dirs).then(() => 'ok', () => 'failed');
      outcomes.push(`remove:${removed}`);
      await expectUntouched(decoy, before);
      await stopSwapper();
      await sbx.destroy();
      await expectUntouched(decoy, before);
    }
    console.info(`[hostfs race] outcomes: ${outcomes.join(' ')}`);
  }, 300_000);
});
