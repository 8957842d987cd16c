/**
 * The CLI: `agentd run --image python -- python3 -c 'import pytest'`, `--user root`, refusals
 * (root without an image, an unknown image), and `agentd image ls|inspect|import|rm` on a
 * home of its own (built CLI, real namespace backend).
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, runCli } from '../cli/cli.js';
import { linkCachedImages, TEST_IMAGE } from './helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('image CLI tests skipped: images need root');
if (!cliBuilt()) console.warn('image CLI tests skipped: the CLI is not built (npm run build)');

describe.skipIf(!isRoot || !cliBuilt())('agentd run --image, agentd image', () => {
  let home: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'agentd-img-cli-'));
    await chmod(home, 0o711);
    await linkCachedImages(home);
    env = { AGENTD_HOME: home, AGENTD_ISOLATION_BACKEND: 'namespace' };
  }, 900_000);
  afterAll(async () => {
    if (home !== undefined) await rm(home, { recursive: true, force: true });
  });

  it("runs python3 with pytest from the image; --user root is uid 0 inside; the host's /usr without --image", async () => {
    const py = await runCli(['run', '--image', TEST_IMAGE, '--', 'python3', '-c', 'import pytest, os; print("ok", os.getuid())'], env);
    expect(py.stderr).toBe('');
    expect(py.stdout).toBe('ok 1000\n');
    expect(py.code).toBe(0);
    const root = await runCli(['run', '--image', TEST_IMAGE, '--user', 'root', '--', 'sh', '-c', 'id -u; touch /usr/bin/mine && echo wrote'], env);
    expect(root.stdout).toBe('0\nwrote\n');
    const host = await runCli(['run', '--', 'sh', '-c', 'test -x /usr/bin/bwrap && echo host-usr'], env);
    expect(host.stdout).toBe('host-usr\n');
    const denied = await runCli(['run', '--user', 'root', '--', 'id'], env);
    expect(denied.code).toBe(125);
    expect(denied.stderr).toContain('POLICY_DENIED');
    const missing = await runCli(['run', '--image', 'nope', '--', 'true'], env);
    expect(missing.stderr).toContain('NOT_FOUND');
  }, 120_000);

  it('image ls, inspect, import and rm', async () => {
    const ls = await runCli(['image', 'ls'], env);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`^${TEST_IMAGE}\\tsha256:[0-9a-f]{64}\\t`, 'm'));
    const inspect = await runCli(['image', 'inspect', TEST_IMAGE], env);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ name: TEST_IMAGE, source: { kind: 'mmdebstrap' } });
    const fs = join(home, 'src-fs');
    await mkdir(join(fs, 'etc'), { recursive: true });
    await writeFile(join(fs, 'etc/motd'), 'hi\n');
    execFileSync('tar', ['-C', fs, '--owner=0', '--group=0', '-czf', join(home, 'src.tar.gz'), '.']);
    const imp = await runCli(['image', 'import', 'mini', join(home, 'src.tar.gz')], env);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toMatch(/^mini\tsha256:/);
    const gone = await runCli(['image', 'rm', 'mini'], env);
    expect(gone.stdout).toMatch(/^removed mini \(sha256:/);
    expect((await runCli(['image', 'inspect', 'mini'], env)).code).not.toBe(0);
  }, 120_000);
});
