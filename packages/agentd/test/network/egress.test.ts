import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { createSandbox, run, startNetDaemon, startUpstreams, type Upstreams } from './fixtures.js';

describe('allowlist egress through the proxy', () => {
  let up: Upstreams;
  let d: TestDaemon;
  let id: string;
  beforeAll(async () => {
    up = await startUpstreams();
    d = await startNetDaemon(up);
    id = await createSandbox(d, { network: 'allowlist' });
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
  });

  it('curl reaches an allowed upstream through HTTP_PROXY (plain HTTP)', async () => {
    const r = await run(d, id, ['curl', '-sS', '--max-time', '10', `http://up.test:${up.http}/`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`hello from upstream up.test:${up.http}\n`);
  });
});
