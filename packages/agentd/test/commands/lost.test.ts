/* eslint-disable @typescript-eslint/no-explicit-any -- REST answers are free-form JSON, checked by expect() */
/**
 * A command's record survives its daemon (issue 11, item 2): SIGKILL the daemon while a
 * command runs, start it again on the same home, and the command is listed as `lost` with
 * its last output and offsets, never silently gone.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureBuilt, startDaemonChild, configToml, type DaemonChild } from '../daemon/child.js';
import { localCall, ndjson } from '../daemon/harness.js';

describe('a command is lost, not forgotten, when its daemon is SIGKILLed', () => {
  let home = '';
  let cfg = '';
  const children: DaemonChild[] = [];
  beforeAll(async () => {
    ensureBuilt();
    home = await mkdtemp(join(tmpdir(), 'agentd-lost-'));
    await chmod(home, 0o711);
    cfg = join(home, 'agentd.toml');
    await writeFile(cfg, configToml(home, `agentd-test-lost-${process.pid}`, '\n[commands]\npersisted_tail_bytes = 100\n'));
  });
  afterAll(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await rm(home, { recursive: true, force: true });
  });

  test('after SIGKILL and a restart the running command is `lost` with its saved tail; a reader gets the gap, the tail, then the end', async () => {
    const first = await startDaemonChild(cfg);
    children.push(first);
    const call = localCall(home, first.address);
    const sbx = (await call('POST', '/v1/sandboxes', { body: {} })).body.id as string;
    const start = await call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { command: 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.1; done' } });
    expect(start.status, start.text).toBe(201);
    const id = start.body.id as string;
    // Long enough for output past the 100-byte tail and a few saves (about one a second).
    await new Promise((r) => setTimeout(r, 2500));
    const before = (await call('GET', `/v1/sandboxes/${sbx}/commands/${id}`)).body;
    expect(before.state).toBe('running');
    expect(before.output.end_offset).toBeGreaterThan(100);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startDaemonChild(cfg);
    children.push(second);
    const call2 = localCall(home, second.address);
    const list = await call2('GET', `/v1/sandboxes/${sbx}/commands`);
    expect(list.status, list.text).toBe(200);
    const rec = (list.body.commands as Array<Record<string, unknown>>).find((c) => c.id === id) as Record<string, any>;
    expect(rec).toMatchObject({ id, state: 'lost', argv: ['/bin/sh', '-c', expect.stringContaining('tick'), 'sh'], exit: { error: { code: 'UNAVAILABLE' } } });
    expect(rec.ended_at_ms).toBeGreaterThanOrEqual(rec.started_at_ms);
    // Saved about once a second: the record holds what the last save saw, at most 100 bytes of it.
    const { start_offset: s, end_offset: e } = rec.output as { start_offset: number; end_offset: number };
    expect(e).toBeGreaterThan(0);
    expect(e - s).toBeLessThanOrEqual(100);
    expect(e - s).toBeGreaterThan(0);
    const r = await call2('GET', `/v1/sandboxes/${sbx}/commands/${id}/stream?from_offset=0`);
    const frames = ndjson(r.text);
    expect(frames.find((f) => f.type === 'overflow')).toMatchObject({ lost_bytes: s, next_offset: s });
    const tail = frames.filter((f) => f.type === 'stdout').map((f) => Buffer.from(f.data ?? '', 'base64').toString()).join('');
    expect(tail.length).toBe(e - s);
    expect(tail).toMatch(/tick \d+\n$/);
    expect(frames.at(-1)).toMatchObject({ type: 'exit', state: 'lost', end_offset: e });
    // Nothing to act on any more: a lost command refuses stdin and signals.
    expect((await call2('POST', `/v1/sandboxes/${sbx}/commands/${id}/kill`)).status).toBe(409);
    second.child.kill('SIGTERM');
    await second.exited;
  }, 60_000);
});
