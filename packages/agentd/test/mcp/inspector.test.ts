import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyService } from '../../src/auth/api-key.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

/** The MCP Inspector's CLI (devDependency @modelcontextprotocol/inspector-cli, bin mcp-inspector-cli). */
const require = createRequire(import.meta.url);
const INSPECTOR = join(dirname(require.resolve('@modelcontextprotocol/inspector-cli/package.json')), 'build/cli.js');
const CLI = fileURLToPath(new URL('../../dist-cli/main.js', import.meta.url));

function inspector(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // cwd: the CLI (1.0.3) looks for its own package.json with existsSync('../package.json'), relative to
    // the working directory, but imports it relative to its module: from its build folder both agree.
    const child = spawn(process.execPath, [INSPECTOR, '--cli', ...args], { cwd: dirname(INSPECTOR), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the MCP Inspector CLI against a real daemon', () => {
  let d: TestDaemon;
  let key: string;
  beforeAll(async () => {
    d = await startTestDaemon({ auth: { providers: [{ type: 'local-token' }, { type: 'api-key' }] } });
    key = new ApiKeyService(d.daemon.store.apiKeys).create({ subject: 'inspector', tenant: 'default', roles: ['user'] }).key;
  }, 60_000);
  afterAll(async () => d?.close());

  it('lists the tools over streamable HTTP with a bearer key', async () => {
    const r = await inspector([`${d.url}/mcp`, '--transport', 'http', '--header', `Authorization: Bearer ${key}`, '--method', 'tools/list']);
    expect(r.code, r.stderr).toBe(0);
    const names = (JSON.parse(r.stdout) as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['sandbox_exec', 'sandbox_file_read', 'sandbox_create', 'sandbox_snapshot']));
  }, 60_000);

  it('calls sandbox_exec over streamable HTTP: the command runs in a sandbox', async () => {
    const r = await inspector([`${d.url}/mcp`, '--transport', 'http', '--header', `Authorization: Bearer ${key}`,
      '--method', 'tools/call', '--tool-name', 'sandbox_exec', '--tool-arg', 'command=echo inspected; id -un']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { content: Array<{ text: string }>; isError?: boolean };
    expect(out.isError ?? false).toBe(false);
    const result = JSON.parse(out.content[0]?.text ?? '{}') as { exit_code: number; stdout: string };
    // The sandbox's own user (uid 1000 inside, named agent), not the host's root.
    expect(result).toMatchObject({ exit_code: 0, stdout: expect.stringMatching(/^inspected\nagent\n$/) });
  }, 60_000);

  it('without a credential the Inspector is refused (401)', async () => {
    const r = await inspector([`${d.url}/mcp`, '--transport', 'http', '--method', 'tools/list']);
    expect(r.code).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/401|UNAUTHENTICATED/);
  }, 60_000);

  it.skipIf(!existsSync(CLI))('calls sandbox_exec through `agentd mcp` over stdio (needs npm run build)', async () => {
    const r = await inspector([process.execPath, CLI, 'mcp', '-e', `AGENTD_HOME=${d.home}`, '--method', 'tools/call', '--tool-name', 'sandbox_exec', '--tool-arg', 'argv=["uname","-s"]']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { content: Array<{ text: string }> };
    expect(JSON.parse(out.content[0]?.text ?? '{}')).toMatchObject({ exit_code: 0, stdout: 'Linux\n' });
  }, 60_000);
});
