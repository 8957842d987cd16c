import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { runCli } from '../cli-client/harness.js';
import { run, startNetDaemon, startUpstreams, type Upstreams } from './fixtures.js';

describe('CLI: agentd sandbox create --network allowlist --allow, agentd network, agentd port', () => {
  let up: Upstreams;
  let d: TestDaemon;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    up = await startUpstreams();
    d = await startNetDaemon(up);
    env = { AGENTD_URL: d.url, AGENTD_HOME: d.home };
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  });

  it('creates with --allow and -p, shows and changes the rules, verifies, lists ports', async () => {
    const c = await runCli(['sandbox', 'create', '--network', 'allowlist', '--allow', `up.test:${up.http}`, '--deny', 'other.test', '-p', '8080'], { env });
    expect(c.stderr).toBe('');
    expect(c.exitCode).toBe(0);
    const id = c.stdout.toString().trim();
    expect((await run(d, id, ['curl', '-sS', `http://up.test:${up.http}/`])).stdout).toContain('hello from upstream');

    const show = await runCli(['network', 'show', id], { env });
    expect(show.stdout.toString()).toMatch(/allow:\s+up\.test:\d+/);
    expect(show.stdout.toString()).toMatch(/deny:\s+other\.test/);

    const wider = await runCli(['network', 'rules', id, '--allow', 'evil.test'], { env });
    expect(wider.exitCode).not.toBe(0);
    expect(wider.stderr).toContain('POLICY_DENIED');
    const narrowed = await runCli(['network', 'rules', id, '--deny', 'up.test'], { env });
    expect(narrowed.exitCode).toBe(0);
    expect((await run(d, id, ['curl', '-sS', `http://up.test:${up.http}/`])).stdout).toContain("is denied by rule 'up.test'");

    const v = await runCli(['network', 'verify', id], { env });
    expect(v.exitCode).toBe(0);
    expect(v.stdout.toString()).toMatch(/sni-mismatch\s+held/);

    const ports = await runCli(['port', 'ls', id], { env });
    expect(ports.stdout.toString()).toMatch(/8080\s+127\.0\.0\.1:\d+/);
  }, 60_000);
});
