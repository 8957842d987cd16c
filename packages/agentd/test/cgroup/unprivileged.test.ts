/**
 * The driver as an unprivileged user (uid 65534, no delegation): every controller reported
 * unavailable with the reason, and a limit refused rather than ignored. The driver is bundled
 * to plain JS (rolldown, which vitest ships) so a child node process can run it as that user.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const run = promisify(execFile);
const ROLLDOWN = fileURLToPath(new URL('../../../../node_modules/.bin/rolldown', import.meta.url));
const ENTRY = fileURLToPath(new URL('../../src/isolation/cgroup/index.ts', import.meta.url));
const SETPRIV = '/usr/bin/setpriv';
const reasons = [
  process.getuid?.() !== 0 ? 'not running as root (cannot switch to another user)' : '',
  existsSync(SETPRIV) ? '' : `${SETPRIV} missing`,
  existsSync(ROLLDOWN) ? '' : `${ROLLDOWN} missing`,
].filter(Boolean);
if (reasons.length > 0) console.warn(`skipping unprivileged cgroup test: ${reasons.join('; ')}`);

const SCRIPT = `
const { CgroupDriver } = await import(process.argv[1]);
const driver = new CgroupDriver({ parent: 'agentd-unprivileged-test' });
const probe = await driver.probe();
const refused = await driver.create('x1', { memoryBytes: 64 * 1024 * 1024, pids: 10 }).then(() => null, (e) => ({ code: e.code, message: e.message }));
const plain = await driver.create('x2', {}).then((g) => (g.dirs.length === 0 ? 'created' : 'unexpected dirs'), (e) => e.code);
console.log(JSON.stringify({ uid: process.getuid(), probe, refused, plain }));
`;

describe.skipIf(reasons.length > 0)('cgroup driver as an unprivileged user', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentd-cg-bundle-'));
    await chmod(dir, 0o755);
    await run(ROLLDOWN, [ENTRY, '--format', 'esm', '--platform', 'node', '-o', join(dir, 'cgroup.mjs')]);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('probe names the missing write access; limits are refused with LIMIT_UNSUPPORTED', async () => {
    const { stdout } = await run(SETPRIV, ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', SCRIPT, join(dir, 'cgroup.mjs')]);
    const out = JSON.parse(stdout) as {
      uid: number;
      probe: { controllers: Record<string, { ok: boolean; detail: string }> };
      refused: { code: string; message: string } | null;
      plain: string;
    };
    expect(out.uid).toBe(65534);
    for (const c of ['memory', 'pids', 'cpu', 'freezer']) {
      expect(out.probe.controllers[c]?.ok).toBe(false);
      expect(out.probe.controllers[c]?.detail).toMatch(/no write access to \/sys\/fs\/cgroup\/\S+ \(not root and no delegation\)|no cgroup hierarchy/);
    }
    expect(out.refused?.code).toBe('LIMIT_UNSUPPORTED');
    expect(out.refused?.message).toContain('memoryBytes=67108864');
    expect(out.refused?.message).toContain('pids=10');
    expect(out.refused?.message).toContain('not root and no delegation');
    // Without limits there is nothing to refuse: an empty group (no directories) is returned.
    expect(out.plain).toBe('created');
  });
});
