/**
 * The envd RPCs pass agentd's pipeline and gate like the REST routes: a policy hook sees
 * every call (shell.exec.v1 for Start, command.kill for SendSignal, fs.remove.v1 for Remove,
 * files.watch for WatchDir) and its refusal reaches the stock SDK as an error while nothing
 * happens in the sandbox; the audit log records the calls under the E2B key's subject.
 */
import { Sandbox, SandboxError } from 'e2b';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { PolicyHook, PolicyInput } from '../../src/pipeline/policy.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

interface AuditRow { action: string; capability: string | null; subject: string | null; sandbox_id: string | null; status: string; code: string | null; details: Record<string, unknown> }

describe('envd RPCs through the pipeline and the gate (policy, audit)', () => {
  let d: TestDaemon;
  let sbx: Sandbox;
  const seen: PolicyInput[] = [];
  const policy: PolicyHook = {
    decide(input) {
      seen.push(input);
      const params = (input.params ?? {}) as { argv?: string[]; path?: string };
      if (input.capability === 'shell.exec.v1' && (params.argv ?? []).some((a) => a.includes('forbidden-word'))) {
        return { allow: false, rule: 'test.exec', reason: 'no forbidden words' };
      }
      if (input.capability === 'command.kill') return { allow: false, rule: 'test.kill', reason: 'no kills today' };
      if (input.capability === 'fs.remove.v1' && (params.path ?? '').startsWith('/tmp/keep')) return { allow: false, rule: 'test.keep', reason: '/tmp/keep stays' };
      if (input.capability === 'files.watch' && (params.path ?? '').startsWith('/tmp/secret')) return { allow: false, rule: 'test.watch', reason: 'not that one' };
      return { allow: true, constraints: input.constraints };
    },
  };

  beforeAll(async () => {
    d = await startTestDaemon({}, { policy });
    const k = await d.call('POST', '/v1/keys', { body: { subject: 'alice', tenant: 't1', roles: ['user'], kind: 'e2b' } });
    expect(k.status, k.text).toBe(201);
    sbx = await Sandbox.create({ apiKey: k.body.key as string, apiUrl: `${d.url}/e2b`, sandboxUrl: d.url });
  }, 60_000);
  afterAll(async () => {
    await sbx?.kill().catch(() => undefined);
    await d?.close();
  });

  const audit = async (): Promise<AuditRow[]> => {
    const a = await d.call('GET', '/v1/audit?limit=200');
    expect(a.status, a.text).toBe(200);
    return a.body.events as AuditRow[];
  };

  test('Start is a shell.exec.v1 intent: the policy sees its argv, a refusal is an SDK error and nothing runs', async () => {
    const e = await sbx.commands.run('echo forbidden-word > /tmp/ran').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SandboxError);
    expect((e as Error).message).toContain('POLICY_DENIED');
    expect(await sbx.files.exists('/tmp/ran')).toBe(false);
    const ok = await sbx.commands.run('echo fine');
    expect(ok.stdout).toBe('fine\n');
    const exec = seen.filter((s) => s.capability === 'shell.exec.v1');
    expect(exec.some((s) => JSON.stringify(s.params).includes('echo fine') && s.principal.subject === 'alice' && s.sandboxPrefs.sandbox_id === sbx.sandboxId)).toBe(true);
    const rows = await audit();
    const execs = rows.filter((r) => r.capability === 'shell.exec.v1' && r.subject === 'alice' && r.sandbox_id === sbx.sandboxId);
    expect(execs.some((r) => r.status === 'ok')).toBe(true);
    expect(execs.some((r) => r.status === 'denied' && r.code === 'POLICY_DENIED')).toBe(true);
  });

  test('SendSignal(SIGKILL) is command.kill through the gate: refused, audited as denied, the process lives on', async () => {
    const h = await sbx.commands.run('sleep 30', { background: true });
    const e = await sbx.commands.kill(h.pid).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SandboxError);
    expect((e as Error).message).toContain('POLICY_DENIED');
    expect((await sbx.commands.list()).some((p) => p.pid === h.pid)).toBe(true);
    const rows = await audit();
    expect(rows.some((r) => r.action === 'command.kill' && r.status === 'denied' && r.subject === 'alice' && r.details.pid === String(h.pid))).toBe(true);
    await h.disconnect();
  });

  test('Remove is an fs.remove.v1 intent: a refused path stays', async () => {
    await sbx.files.makeDir('/tmp/keep/x');
    await expect(sbx.files.remove('/tmp/keep/x')).rejects.toThrow(/POLICY_DENIED/);
    expect(await sbx.files.exists('/tmp/keep/x')).toBe(true);
    expect(seen.some((s) => s.capability === 'fs.remove.v1' && (s.params as { path?: string }).path === '/tmp/keep/x')).toBe(true);
  });

  test('WatchDir is files.watch through the gate: refused for the policy, audited when it starts', async () => {
    await sbx.files.makeDir('/tmp/secret');
    await expect(sbx.files.watchDir('/tmp/secret', () => undefined)).rejects.toThrow(/POLICY_DENIED/);
    await sbx.files.makeDir('/tmp/open');
    const h = await sbx.files.watchDir('/tmp/open', () => undefined);
    await h.stop();
    const rows = await audit();
    expect(rows.some((r) => r.action === 'files.watch' && r.status === 'ok' && r.sandbox_id === sbx.sandboxId && r.details.path === '/tmp/open')).toBe(true);
    expect(rows.some((r) => r.action === 'files.watch' && r.status === 'denied' && r.details.path === '/tmp/secret')).toBe(true);
  });
});
