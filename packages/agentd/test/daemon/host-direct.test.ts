import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ndjson, startTestDaemon, type TestDaemon } from './harness.js';

/** The same API over the host-direct backend (no isolation: workstation only). */
describe('REST API on the host-direct backend', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    // host-direct cannot enforce the default CPU and disk limits, nor restrict the network: the config says to run without them.
    d = await startTestDaemon({ isolation: { backend: 'host-direct' }, sandbox: { network: 'host', limits: { cpus: 0, disk_bytes: 0 } } });
  });
  afterAll(async () => {
    await d?.close();
  });

  it('create, exec (JSON and NDJSON), files, delete', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(c.status).toBe(201);
    expect(c.body.backend).toBe('host-direct');
    const id = c.body.id;
    const e = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo hi > out.txt; cat out.txt; exit 4' } });
    expect(e.body).toMatchObject({ exit_code: 4, stdout: 'hi\n' });
    expect((await d.call('GET', `/v1/sandboxes/${id}/files?path=out.txt`)).text).toBe('hi\n');
    const s = await d.call('POST', `/v1/sandboxes/${id}/exec?stream=1`, { body: { argv: ['echo', 'streamed'] } });
    expect(ndjson(s.text).map((f) => f.type)).toEqual(['start', 'stdout', 'exit']);
    expect((await d.call('GET', `/v1/sandboxes/${id}/files/list?path=.`)).body.entries.map((x: { name: string }) => x.name)).toEqual(['out.txt']);
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
  });
});
