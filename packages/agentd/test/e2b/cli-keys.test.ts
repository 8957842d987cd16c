/**
 * `agentd keys create --e2b`: the built CLI against a real daemon makes an E2B key, which the
 * stock SDK then uses; `keys ls` lists it and `keys revoke` ends it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuthenticationError, Sandbox } from 'e2b';
import { e2eSkipReason } from '../../../sdk/test/helpers/daemon.js';
import { cliBuilt, runCli, type CliResult } from '../cli/cli.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

const skip = e2eSkipReason() ?? (cliBuilt() ? undefined : 'the CLI is not built (npm run build)');
if (skip !== undefined) console.log(`skipping the E2B key CLI test: ${skip}`);

describe.skipIf(skip !== undefined)('agentd keys create --e2b (CLI, real daemon)', () => {
  let d: TestDaemon;
  let cli: (...args: string[]) => Promise<CliResult>;
  beforeAll(async () => {
    d = await startTestDaemon({});
    cli = (...args) => runCli(args, { AGENTD_HOME: d.home, AGENTD_URL: d.url, AGENTD_SOCKET: undefined, AGENTD_API_KEY: undefined, AGENTD_SIGN_KEY: undefined });
  });
  afterAll(async () => {
    await d?.close();
  });

  test('prints an e2b_ key the stock SDK authenticates with; keys ls shows it; revoke ends it', async () => {
    const made = await cli('keys', 'create', '--e2b', '--subject', 'dana', '--tenant', 'td');
    expect(made.code, made.stderr).toBe(0);
    const key = made.stdout.trim();
    expect(key).toMatch(/^e2b_[0-9a-f]{64}$/);
    expect(made.stderr).toContain('E2B_API_KEY');
    const opts = { apiKey: key, apiUrl: `${d.url}/e2b`, sandboxUrl: d.url };
    const sbx = await Sandbox.create(opts);
    expect((await sbx.getInfo()).state).toBe('running');
    await sbx.kill();
    const ls = await cli('keys', 'ls', '--json');
    const row = (JSON.parse(ls.stdout) as { keys: Array<{ id: string; prefix: string; subject: string }> }).keys.find((k) => k.subject === 'dana');
    expect(row?.prefix).toBe(`e2b_${key.slice(4, 20)}`);
    expect((await cli('keys', 'revoke', row?.id ?? '')).code).toBe(0);
    await expect(Sandbox.create(opts)).rejects.toBeInstanceOf(AuthenticationError);
  });
});
