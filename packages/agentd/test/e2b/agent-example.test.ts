import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from 'e2b';
import { startE2bDaemon, type E2bTestDaemon } from './harness.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

function runExample(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['examples/e2b-agent.mjs'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * examples/e2b-agent.mjs, unchanged from how it runs against E2B's hosted service, against a
 * real daemon: only E2B_API_KEY, E2B_API_URL and E2B_SANDBOX_URL are set (and PATH).
 */
describe('the agent-style example with the stock e2b SDK', () => {
  let e: E2bTestDaemon;
  let rpcServed = true;
  beforeAll(async () => {
    e = await startE2bDaemon();
    // The example needs commands.run (the Connect-RPC process service, e2b-b's part of issue 14).
    const probe = await Sandbox.create(e.opts);
    try {
      await probe.commands.list();
    } catch (err) {
      if (/unimplemented|501/i.test((err as Error).message)) rpcServed = false;
      else throw err;
    } finally {
      await probe.kill();
    }
  });
  afterAll(async () => {
    await e?.close();
  });

  it('writes code, runs its tests, reads the failures, fixes the code, and the tests pass', async (ctx) => {
    if (!rpcServed) {
      console.log('SKIP: this daemon answers process.Process with unimplemented (the Connect-RPC services are not merged in this tree), so commands.run cannot work');
      ctx.skip();
    }
    const r = await runExample({ PATH: process.env.PATH ?? '/usr/bin:/bin', E2B_API_KEY: e.apiKey, E2B_API_URL: e.apiUrl, E2B_SANDBOX_URL: e.sandboxUrl });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { sandboxId: string; first: { exitCode: number; results: unknown; failed: string[] }; second: { exitCode: number; results: unknown; failed: string[] }; files: string[] };
    expect(out.first.exitCode).toBe(1);
    expect(out.first.results).toEqual({ run: 3, failures: 1, errors: 1 });
    expect(out.first.failed.sort()).toEqual(['test_add', 'test_mean_empty']);
    expect(out.second).toEqual({ exitCode: 0, results: { run: 3, failures: 0, errors: 0 }, failed: [] });
    expect(out.files).toEqual(expect.arrayContaining(['calc.py', 'results.json', 'test_calc.py']));
    // The example killed its sandbox.
    await expect(Sandbox.getInfo(out.sandboxId, e.opts)).rejects.toThrow(/not found/);
  }, 120_000);
});
