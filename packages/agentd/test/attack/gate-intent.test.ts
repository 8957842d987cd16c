import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execTimeoutMs } from '../../src/capabilities/shell-exec.js';
import type { SandboxSpec } from '../../src/isolation/types.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

/** Interfaces the command sees in its network namespace (/proc/net/dev follows the reader's namespace). */
const LIST_IFACES = "awk 'NR>2{sub(\":\",\"\",$1); print $1}' /proc/net/dev";

/** Intent fields that were accepted and ignored: allow_network, trace ids, custom labels, timeouts. */
describe('attack: intent fields that did nothing', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    // Host network by config, so that allow_network: false has something to remove.
    d = await startTestDaemon({ sandbox: { network: 'host' }, pool: { enabled: true, min_warm: 1, max_warm: 2 } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('constraints.allow_network: false runs the command in a sandbox with no network (only lo), never a pooled one with the host network', async () => {
    const withNet = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec', params: { command: LIST_IFACES } } });
    expect(withNet.body.code).toBe('OK');
    expect(withNet.body.result.stdout.split('\n').filter(Boolean).length).toBeGreaterThan(1);
    const r = await d.call('POST', '/v1/intents', {
      body: { capability: 'shell.exec', params: { command: LIST_IFACES }, constraints: { allow_network: false }, sandbox_prefs: { persist: true } },
    });
    expect(r.body.code).toBe('OK');
    expect(r.body.result.stdout).toBe('lo\n');
    expect(r.body.sandbox_info.from_pool).toBe(false);
    expect((d.daemon.store.sandboxes.get(r.body.sandbox_info.id)?.spec as SandboxSpec).network).toBe('none');
    expect((await d.call('DELETE', `/v1/sandboxes/${r.body.sandbox_info.id}`)).status).toBe(204);
  });

  it('allow_network: false in a named sandbox that has network: refused with 403 POLICY_DENIED before anything runs', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    const id = c.body.id as string;
    const r = await d.call('POST', '/v1/intents', {
      body: { capability: 'shell.exec', params: { command: 'touch ran' }, constraints: { allow_network: false }, sandbox_prefs: { sandbox_id: id } },
    });
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('POLICY_DENIED');
    expect(r.body.error.details).toMatchObject({ rule: 'allow_network', sandbox_id: id, network: 'host' });
    expect((await d.call('GET', `/v1/sandboxes/${id}/files/list?path=.`)).body.entries).toEqual([]);
    // A sandbox with no network takes it.
    const none = await d.call('POST', '/v1/sandboxes', { body: { network: 'none' } });
    const ok = await d.call('POST', '/v1/intents', {
      body: { capability: 'shell.exec', params: { command: LIST_IFACES }, constraints: { allow_network: false }, sandbox_prefs: { sandbox_id: none.body.id } },
    });
    expect(ok.body.result.stdout).toBe('lo\n');
    for (const x of [id, none.body.id]) expect((await d.call('DELETE', `/v1/sandboxes/${x}`)).status).toBe(204);
  });

  it('metadata trace_id, span_id and custom reach the audit event (details.trace_id, span_id, custom)', async () => {
    const metadata = { trace_id: 'trace-4bf92f3577b34da6', span_id: 'span-00f067aa0ba902b7', custom: { ticket: 'OPS-9', agent: 'planner' } };
    const r = await d.call('POST', '/v1/intents', { body: { id: 'int_traced', capability: 'shell.exec', params: { argv: ['true'] }, metadata } });
    expect(r.body.code).toBe('OK');
    const events = (await d.call('GET', '/v1/audit?limit=50')).body.events as Array<{ intent_id: string | null; details: Record<string, unknown> }>;
    const ev = events.find((e) => e.intent_id === 'int_traced');
    expect(ev?.details).toMatchObject(metadata);
    // A refused intent keeps them too.
    const denied = await d.call('POST', '/v1/intents', {
      body: { id: 'int_traced_denied', capability: 'shell.exec', params: { argv: ['true'] }, metadata, sandbox_prefs: { backend: 'host-direct' } },
    });
    expect(denied.body.code).toBe('POLICY_DENIED');
    const evDenied = ((await d.call('GET', '/v1/audit?limit=50')).body.events as typeof events).find((e) => e.intent_id === 'int_traced_denied');
    expect(evDenied?.details).toMatchObject(metadata);
  });

  it('timeout_ms above limits.max_exec_timeout_ms (600000 here): 400 INVALID_ARGUMENT naming the key, on exec and on intents', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    const e = await d.call('POST', `/v1/sandboxes/${c.body.id}/exec`, { body: { command: 'touch ran', timeout_ms: 700_000 } });
    expect(e.status).toBe(400);
    expect(e.body.error.code).toBe('INVALID_ARGUMENT');
    expect(e.body.error.message).toContain('limits.max_exec_timeout_ms');
    expect(e.body.error.details).toMatchObject({ max: 600_000, key: 'limits.max_exec_timeout_ms' });
    expect((await d.call('GET', `/v1/sandboxes/${c.body.id}/files/list?path=.`)).body.entries).toEqual([]);
    const i = await d.call('POST', '/v1/intents', { body: { capability: 'shell.exec', params: { argv: ['true'], timeout_ms: 700_000 } } });
    expect(i.body.code).toBe('INVALID_ARGUMENT');
    expect((await d.call('DELETE', `/v1/sandboxes/${c.body.id}`)).status).toBe(204);
  });
});

describe('limits.max_exec_timeout_ms raised in the config is honoured by the request schema', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ limits: { max_exec_timeout_ms: 900_000 }, pool: { enabled: false, min_warm: 0 } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('timeout_ms 700000 (the CLI\'s --timeout 700) is accepted; 900001 is refused naming the key', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    const ok = await d.call('POST', `/v1/sandboxes/${c.body.id}/exec`, { body: { argv: ['echo', 'ran'], timeout_ms: 700_000 } });
    expect(ok.status).toBe(200);
    expect(ok.body.stdout).toBe('ran\n');
    const over = await d.call('POST', `/v1/sandboxes/${c.body.id}/exec`, { body: { argv: ['true'], timeout_ms: 900_001 } });
    expect(over.status).toBe(400);
    expect(over.body.error.message).toBe("params.timeout_ms 900001 is above this daemon's maximum 900000 (limits.max_exec_timeout_ms)");
    expect((await d.call('DELETE', `/v1/sandboxes/${c.body.id}`)).status).toBe(204);
  });
});

describe('the exec timeout default is the documented 60 s', () => {
  it('no timeout_ms: 60000 although the pipeline always hands in max_duration_ms (the config maximum, 600000)', () => {
    expect(execTimeoutMs(undefined, 600_000)).toBe(60_000);
    expect(execTimeoutMs(undefined, undefined)).toBe(60_000);
    expect(execTimeoutMs(undefined, 5_000)).toBe(5_000);
    expect(execTimeoutMs(120_000, 600_000)).toBe(120_000);
    expect(execTimeoutMs(120_000, 30_000)).toBe(30_000);
  });
});
