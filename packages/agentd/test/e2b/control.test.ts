import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, NotFoundError, Sandbox, SandboxNotFoundError } from 'e2b';
import { startE2bDaemon, type E2bTestDaemon } from './harness.js';

/** The E2B control plane with the real, pinned `e2b` SDK against a real daemon (namespace backend). */
describe('E2B control plane (stock e2b SDK)', () => {
  let e: E2bTestDaemon;
  beforeAll(async () => {
    e = await startE2bDaemon();
  });
  afterAll(async () => {
    await e?.close();
  });

  it('create, getInfo, isRunning, kill', async () => {
    const sbx = await Sandbox.create({ ...e.opts, metadata: { job: 'j1' }, timeoutMs: 120_000 });
    expect(sbx.sandboxId).toMatch(/^sbx_/);
    const info = await sbx.getInfo();
    expect(info.sandboxId).toBe(sbx.sandboxId);
    expect(info.templateId).toBe('base');
    expect(info.metadata).toEqual({ job: 'j1' });
    expect(info.state).toBe('running');
    expect(info.endAt.getTime() - info.startedAt.getTime()).toBe(120_000);
    expect(await sbx.isRunning()).toBe(true);
    await sbx.kill();
    expect(await Sandbox.kill(sbx.sandboxId, e.opts)).toBe(false);
    await expect(Sandbox.getInfo(sbx.sandboxId, e.opts)).rejects.toBeInstanceOf(SandboxNotFoundError);
    expect(await sbx.isRunning()).toBe(false);
  });
});
