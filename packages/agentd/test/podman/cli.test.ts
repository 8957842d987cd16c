/**
 * `agentd run --backend podman --image python -- python3 -c 'import pytest'` from the built
 * CLI (a one-shot sandbox: the CLI's own podman service and store under <home>/run/podman).
 */
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBuilt, runCli } from '../cli/cli.js';
import { linkCachedImages, TEST_IMAGE } from '../images/helpers.js';
import { runRootFor } from '../../src/isolation/podman/service.js';
import { skipReason } from './fixture.js';

const reason = skipReason ?? (cliBuilt() ? undefined : 'the CLI is not built (npm run build)');
if (reason !== undefined) console.warn(`[podman tests] skipping the CLI: ${reason}`);

describe.skipIf(reason !== undefined)('agentd run --backend podman', () => {
  let home: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    home = await mkdtemp(join('/var/tmp', 'agentd-podman-cli-'));
    await chmod(home, 0o711);
    await linkCachedImages(home);
    env = { AGENTD_HOME: home };
  }, 900_000);
  afterAll(async () => {
    if (home === undefined) return;
    // The one-shot runs' podman service (left running for the next run, by design): stopped by its pid.
    const pid = Number((await readFile(join(home, 'run', 'podman', 'service.pid'), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
    spawnSync('umount', ['-l', join(home, 'run', 'podman', 'storage', 'overlay')], { stdio: 'ignore' });
    await rm(runRootFor(join(home, 'run')), { recursive: true, force: true });
    await rm(home, { recursive: true, force: true }).catch(() => undefined);
  }, 60_000);

  it('runs python3 with pytest from the image, as the agent user; --user root is uid 0 inside; exit codes pass through', async () => {
    const py = await runCli(['run', '--backend', 'podman', '--image', TEST_IMAGE, '--', 'python3', '-c', 'import pytest, os; print("ok", os.getuid())'], env);
    // The default config's disk limit is not offered by podman: the one-shot run says so and goes on (like any such backend).
    expect(py.stderr.replace(/^agentd warning: backend 'podman' cannot enforce sandbox\.limits\.disk_bytes .*\n/m, '')).toBe('');
    expect(py.stdout).toBe('ok 1000\n');
    expect(py.code).toBe(0);
    const root = await runCli(['run', '--backend', 'docker', '--image', TEST_IMAGE, '--user', 'root', '--', 'sh', '-c', 'id -u; exit 3'], env);
    expect(root.stdout).toBe('0\n');
    expect(root.code).toBe(3);
    const host = await runCli(['run', '--backend', 'podman', '--', 'sh', '-c', 'id -un; test -w /usr || echo usr-ro'], env);
    expect(host.stdout).toBe('agent\nusr-ro\n');
  }, 900_000);
});
