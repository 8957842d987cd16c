import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { expect, test, vi } from 'vitest';
import { ApiKeyService } from '../../src/auth/index.js';
import { openStateStore } from '../../src/state/index.js';

// Wrap the real timingSafeEqual so the test can see that verification goes through it.
vi.mock('node:crypto', async (importOriginal) => {
  // eslint-disable-next-line @typescript-eslint/consistent-type-imports -- vi.mock's factory needs the module's type inline
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

test('api key verification compares the stored and computed digests with crypto.timingSafeEqual', () => {
  const home = mkdtempSync(join(tmpdir(), 'agentd-auth-'));
  const store = openStateStore({ home });
  try {
    const keys = new ApiKeyService(store.apiKeys);
    const created = keys.create({ subject: 's', tenant: 't', roles: [] });
    const compare = vi.mocked(timingSafeEqual);
    compare.mockClear();
    expect(keys.verify(created.key).subject).toBe('s');
    expect(compare).toHaveBeenCalledTimes(1);
    const [stored, computed] = compare.mock.calls[0] as [Buffer, Buffer];
    expect(stored.length).toBe(32);
    expect(computed.length).toBe(32);
    // What is compared is a digest, never the key or its secret.
    expect(stored.toString('base64url')).not.toBe(created.key.slice(-43));
    compare.mockClear();
    expect(() => keys.verify(`${created.key.slice(0, -1)}${created.key.endsWith('A') ? 'B' : 'A'}`)).toThrow('invalid API key');
    expect(compare).toHaveBeenCalledTimes(1);
  } finally {
    store.close();
    rmSync(home, { recursive: true, force: true });
  }
});
