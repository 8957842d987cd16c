/**
 * commands.max_kept (docs/api.md, "Retention"): past it, the oldest finished commands go
 * first; running ones stay.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

describe('commands.max_kept', () => {
  let d: TestDaemon;
  let sbx = '';
  beforeAll(async () => {
    d = await startTestDaemon({ commands: { max_kept: 3, keep_exited_ms: 600_000 } });
    const r = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(r.status, r.text).toBe(201);
    sbx = r.body.id;
  });
  afterAll(async () => d?.close());

  test('the oldest finished commands go first; a running one is never dropped', async () => {
    const running = await d.call('POST', `/v1/sandboxes/${sbx}/commands`, { body: { command: 'sleep 30' } });
    expect(running.status, running.text).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await d.call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['echo', String(i)] } });
      expect(r.status, r.text).toBe(200);
      ids.push(r.body.command_id as string);
    }
    const list = await d.call('GET', `/v1/sandboxes/${sbx}/commands`);
    expect(list.status, list.text).toBe(200);
    const listed = (list.body.commands as Array<{ id: string; state: string }>);
    expect(listed.filter((c) => c.state !== 'running').map((c) => c.id)).toEqual(ids.slice(3));
    expect(listed.find((c) => c.id === running.body.id)?.state).toBe('running');
    const gone = await d.call('GET', `/v1/sandboxes/${sbx}/commands/${ids[0]}`);
    expect(gone.status).toBe(404);
    await d.call('POST', `/v1/sandboxes/${sbx}/commands/${running.body.id}/kill`);
  });
});
