import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { findExecutable } from '../../src/isolation/namespace/which.js';
import { cliBuilt, runCli, type CliResult } from './cli.js';

/**
 * `agentd run` with the probe cache, on a bwrap wrapper that logs every call and fails
 * while a flag file exists. The namespace probe's test run is the call ending in `-- true`.
 */
const realBwrap = await findExecutable('bwrap');

let dir: string;
let home: string;
let config: string;
let wrapper: string;
let failFlag: string;
let env: Record<string, string>;

const cacheFile = (): string => join(home, 'cache', 'namespace-userns.json');
const calls = async (): Promise<string[]> => (await readFile(join(dir, 'calls'), 'utf8').catch(() => '')).split('\n');
const probeRuns = async (): Promise<number> => (await calls()).filter((l) => l.endsWith(' -- true')).length;
const versionRuns = async (): Promise<number> => (await calls()).filter((l) => l === '--version').length;
const run = (args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> => runCli(['run', '--config', config, ...args], { ...env, ...extraEnv });

beforeAll(() => {
  if (!cliBuilt()) throw new Error('the CLI is not built: run `npm run build` (npm test does it first)');
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentd-probe-cache-cli-'));
  // The wrapper runs as the sandboxes' unprivileged host uid too: it must reach its folder, the flag and the log.
  await chmod(dir, 0o755);
  home = join(dir, 'home');
  wrapper = join(dir, 'bwrap');
  failFlag = join(dir, 'fail');
  await writeFile(join(dir, 'calls'), '', { mode: 0o666 });
  await chmod(join(dir, 'calls'), 0o666);
  await writeFile(wrapper, `#!/bin/sh\necho "$*" >> ${dir}/calls\nif [ -e ${failFlag} ]; then echo "bwrap: simulated failure" >&2; exit 1; fi\nexec ${realBwrap} "$@"\n`, { mode: 0o755 });
  config = join(dir, 'agentd.toml');
  await writeFile(config, `[isolation.backends.namespace]\nbwrap_path = "${wrapper}"\n`);
  await mkdir(home, { mode: 0o711 });
  await chmod(home, 0o711);
  env = { AGENTD_HOME: home, AGENTD_CONFIG: '', AGENTD_PROBE_CACHE: '' };
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(realBwrap === undefined)('agentd run: probe cache (skipped: bwrap not installed)', { timeout: 120_000 }, () => {
  test('the second run takes the bwrap test run and bwrap --version from the cache; a changed bwrap, --no-probe-cache and AGENTD_PROBE_CACHE=0 probe for real', async () => {
    const first = await run(['--backend', 'namespace', '--', 'sh', '-c', 'echo one']);
    expect(first.stdout).toBe('one\n');
    expect(first.code).toBe(0);
    expect(await probeRuns()).toBe(1);
    expect(await versionRuns()).toBe(1);
    expect(existsSync(cacheFile())).toBe(true);

    const second = await run(['--backend', 'namespace', '--verbose', '--', 'sh', '-c', 'echo two; exit 4']);
    expect(second.stdout).toBe('two\n');
    expect(second.code).toBe(4);
    expect(second.stderr).toContain("probe result 'namespace-userns' taken from the cache");
    expect(await probeRuns()).toBe(1);
    expect(await versionRuns()).toBe(1);

    // A key input changes: the wrapper's mtime.
    const past = new Date(Date.now() - 3600_000);
    await utimes(wrapper, past, past);
    const stale = await run(['--backend', 'namespace', '--verbose', '--', 'true']);
    expect(stale.code).toBe(0);
    expect(stale.stderr).toContain('probe cache entry is stale');
    expect(await probeRuns()).toBe(2);
    expect(await versionRuns()).toBe(2);
    expect((await run(['--backend', 'namespace', '--', 'true'])).code).toBe(0);
    expect(await probeRuns()).toBe(2);

    expect((await run(['--backend', 'namespace', '--no-probe-cache', '--', 'true'])).code).toBe(0);
    expect(await probeRuns()).toBe(3);
    expect((await run(['--backend', 'namespace', '--', 'true'], { AGENTD_PROBE_CACHE: '0' })).code).toBe(0);
    expect(await probeRuns()).toBe(4);
    expect((await run(['--backend', 'namespace', '--', 'true'], { AGENTD_PROBE_CACHE: 'on' })).code).toBe(0);
    expect(await probeRuns()).toBe(4);
    const bad = await run(['--backend', 'namespace', '--', 'true'], { AGENTD_PROBE_CACHE: 'sometimes' });
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('INVALID_ARGUMENT: AGENTD_PROBE_CACHE: expected true/false');
  });

  test('a failed probe is not cached: the next run probes again', async () => {
    await writeFile(failFlag, '');
    const failed = await run(['--backend', 'namespace', '--', 'true']);
    expect(failed.code).toBe(125);
    expect(failed.stderr).toMatch(/BACKEND_UNAVAILABLE.*bwrap: simulated failure/);
    expect(existsSync(cacheFile())).toBe(false);
    await rm(failFlag);
    expect((await run(['--backend', 'namespace', '--', 'true'])).code).toBe(0);
    expect(await probeRuns()).toBe(2);
    expect(existsSync(cacheFile())).toBe(true);
  });

  test('a corrupt cache file is ignored and replaced by a real probe', async () => {
    expect((await run(['--backend', 'namespace', '--', 'true'])).code).toBe(0);
    await writeFile(cacheFile(), 'not json');
    const r = await run(['--backend', 'namespace', '--', 'sh', '-c', 'echo ok']);
    expect(r.stdout).toBe('ok\n');
    expect(await probeRuns()).toBe(2);
    expect(JSON.parse(await readFile(cacheFile(), 'utf8'))).toMatchObject({ value: { ok: true } });
  });

  // Which backend a run ends on depends on what else this host offers (oci, podman, linux-native...):
  // the rule is that a stale entry changes nothing but the warning, so each run is compared with
  // the same run without the cache.
  const outcome = (r: CliResult) => ({ code: r.code, stdout: r.stdout, noIsolation: r.stderr.includes('provides NO isolation'), required: /ISOLATION_REQUIRED/.test(r.stderr) });

  test('a stale entry never runs a kernel-isolation profile without it: profile server ends as a run without the cache (another kernel backend, or ISOLATION_REQUIRED)', async () => {
    expect((await run(['--', 'true'])).code).toBe(0);
    expect(existsSync(cacheFile())).toBe(true);
    // bwrap breaks in a way the key does not see.
    await writeFile(failFlag, '');
    const args = ['--profile', 'server', '--', 'sh', '-c', 'echo RAN'];
    const r = await run(args);
    expect(r.stderr).toContain("backend 'namespace' failed to start after a probe result taken from the cache");
    expect(r.stderr).not.toContain('provides NO isolation');
    expect(existsSync(cacheFile())).toBe(false);
    expect(outcome(r)).toEqual(outcome(await run(args, { AGENTD_PROBE_CACHE: '0' })));
    if (r.code !== 0) {
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/ISOLATION_REQUIRED: profile 'server' requires kernel isolation.*bwrap: simulated failure/);
    }
    expect(await readdir(join(home, 'run', 'sandboxes')).catch(() => [])).toEqual([]);
  });

  test('a stale entry under profile workstation ends as a run without the cache would, said loudly', async () => {
    expect((await run(['--', 'true'])).code).toBe(0);
    await writeFile(failFlag, '');
    // host-direct (the last resort) cannot restrict the network: the config says `host` (the default is none).
    const args = ['--', 'sh', '-c', 'echo RAN'];
    const r = await run(args, { AGENTD_NETWORK: 'host' });
    expect(r.stdout).toBe('RAN\n');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('failed to start after a probe result taken from the cache');
    expect(existsSync(cacheFile())).toBe(false);
    expect(outcome(r)).toEqual(outcome(await run(args, { AGENTD_NETWORK: 'host', AGENTD_PROBE_CACHE: '0' })));
  });
});
