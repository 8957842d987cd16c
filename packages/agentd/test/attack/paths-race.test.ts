/**
 * The rename race: a path under an allowed root is swapped, again and again, between a real
 * folder and a symlink to a host folder outside the roots, while an admin creates sandboxes
 * that bind it. Whatever the timing, a sandbox either is refused or sees the real folder:
 * the host folder behind the symlink is never reached.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hostDir, pathsSkip, removeDirs, shIn, startPathsDaemon, type PathsDaemon } from './paths-helpers.js';

/** Swaps `link` between the folder `real` and a symlink to `outside`, as fast as it can, until killed. */
const RACER = `
const fs = require('node:fs');
const [link, real, outside] = process.argv.slice(1);
const aside = link + '.aside';
const pause = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; ; i++) {
  try { fs.renameSync(link, aside); fs.symlinkSync(outside, link); } catch {}
  // Short, varying stays in each state, so checks and mounts land on both sides and on the edges.
  Atomics.wait(pause, 0, 0, i % 3);
  try { fs.unlinkSync(link); fs.renameSync(aside, link); } catch {}
  Atomics.wait(pause, 0, 0, (i + 1) % 4);
}
`;

const ROUNDS = 40;

describe.skipIf(pathsSkip !== undefined)('host paths: a symlink swapped in between the check and the mount never reaches the host target', () => {
  let p: PathsDaemon;
  let root: string;
  let secret: string;
  let racer: ChildProcess | undefined;

  beforeAll(async () => {
    root = await hostDir('race-root');
    secret = await hostDir('race-secret');
    // The same layout on both sides, so a mount of either one works: only the marker differs.
    await mkdir(join(root, 'swap', 'sub'), { recursive: true, mode: 0o755 });
    await writeFile(join(root, 'swap', 'sub', 'marker'), 'inside\n', { mode: 0o644 });
    await mkdir(join(secret, 'sub'), { mode: 0o755 });
    await writeFile(join(secret, 'sub', 'marker'), 'HOST-SECRET\n', { mode: 0o644 });
    p = await startPathsDaemon({ sandbox: { host_path_roots: [root] } });
  }, 60_000);
  afterAll(async () => {
    racer?.kill('SIGKILL');
    await p?.close();
    await removeDirs(root, secret);
  });

  test('a sandbox with a read-write root folder swaps a folder bound into another sandbox for a symlink to /etc: the fork (a new start) is refused', async () => {
    const shared = join(root, 'shared');
    await mkdir(join(shared, 'sub'), { recursive: true });
    await chmod(shared, 0o777);
    await writeFile(join(shared, 'sub', 'marker'), 'shared\n', { mode: 0o644 });
    const writer = await p.d.call('POST', '/v1/sandboxes', { headers: p.admin, body: { allowed_paths_rw: [shared] } });
    const reader = await p.d.call('POST', '/v1/sandboxes', { headers: p.admin, body: { bind_mounts: [{ source: join(shared, 'sub'), target: '/workspace/b', readonly: true }] } });
    expect([writer.status, reader.status], `${writer.text} ${reader.text}`).toEqual([201, 201]);
    expect((await shIn(p, p.admin, reader.body.id as string, 'cat /workspace/b/marker')).out).toBe('shared');
    // The sandbox plants the link (it owns nothing else on the host).
    const plant = await shIn(p, p.admin, writer.body.id as string, `mv ${shared}/sub ${shared}/old && ln -s /etc ${shared}/sub && echo planted`);
    expect(plant.out).toBe('planted');
    const fork = await p.d.call('POST', `/v1/sandboxes/${reader.body.id as string}/fork`, { headers: p.admin, body: {} });
    if (fork.status === 201) {
      // Whatever happened, the host's /etc must not be what the fork sees.
      expect((await shIn(p, p.admin, fork.body.id as string, 'cat /workspace/b/hostname 2>&1; ls /workspace/b | head -3')).out).not.toMatch(/passwd|hostname/);
    }
    expect(fork.status, fork.text).toBe(403);
    expect(fork.body.error).toMatchObject({ code: 'POLICY_DENIED', details: { rule: 'outside-roots', resolved: '/etc' } });
  }, 120_000);

  test(`${ROUNDS} creates under a running swap: each one refused or showing the real folder, never the host's`, async () => {
    racer = spawn(process.execPath, ['-e', RACER, join(root, 'swap'), join(root, 'swap'), secret], { stdio: 'ignore' });
    const outcomes = { mounted: 0, refused: 0 };
    const seen: string[] = [];
    const reasons = new Set<string>();
    for (let i = 0; i < ROUNDS; i++) {
      const source = join(root, 'swap', 'sub');
      const r = await p.d.call('POST', '/v1/sandboxes', { headers: p.admin, body: { bind_mounts: [{ source, target: '/workspace/b', readonly: true }], allowed_paths_ro: [source] } });
      if (r.status !== 201) {
        outcomes.refused++;
        reasons.add(`${r.body?.error?.code as string}/${(r.body?.error?.details?.rule as string | undefined) ?? '-'}`);
        // Refused for a path reason: outside the roots, missing, or changed (seen by the daemon's
        // check, or by bwrap's own inode check of the pinned descriptor).
        expect(['POLICY_DENIED', 'INVALID_ARGUMENT'], r.text).toContain(r.body?.error?.code);
        expect(['outside-roots', 'missing', 'changed'], r.text).toContain(r.body?.error?.details?.rule);
        continue;
      }
      outcomes.mounted++;
      const id = r.body.id as string;
      const out = await shIn(p, p.admin, id, `cat /workspace/b/marker ${source}/marker 2>&1; true`);
      seen.push(out.out);
      expect(out.out).not.toContain('HOST-SECRET');
      await p.d.call('DELETE', `/v1/sandboxes/${id}`, { headers: p.admin });
    }
    racer.kill('SIGKILL');
    console.info(`[paths-race] ${ROUNDS} rounds: ${outcomes.mounted} mounted the real folder, ${outcomes.refused} refused (${[...reasons].join(', ')})`);
    expect(seen.join('\n')).not.toContain('HOST-SECRET');
    expect(outcomes.mounted + outcomes.refused).toBe(ROUNDS);
  }, 240_000);
});
