import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ApiKeyService, apiKeyProvider } from '../../src/auth/index.js';
import { openStateStore, type StateStore } from '../../src/state/index.js';
import { bearer, httpRequest, rejection } from './helpers.js';

let home: string;
let store: StateStore;
let clock: number;
let keys: ApiKeyService;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'agentd-auth-'));
  clock = 1_700_000_000_000;
  store = openStateStore({ home, now: () => clock });
  keys = new ApiKeyService(store.apiKeys, () => clock);
});

afterEach(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

describe('api keys', () => {
  test('a created key authenticates as its subject, tenant and roles; the database holds no part of the secret', async () => {
    const created = keys.create({ subject: 'ci-bot', tenant: 'acme', roles: ['user', 'user', 'deployer'] });
    expect(created.key).toMatch(new RegExp(`^agd_${created.id}_[A-Za-z0-9_-]{43}$`));
    expect(created.info).toMatchObject({ id: created.id, prefix: `agd_${created.id}`, subject: 'ci-bot', tenant: 'acme', roles: ['user', 'deployer'], revokedAtMs: null, lastUsedMs: null });
    expect(created.info).not.toHaveProperty('hash');

    const provider = apiKeyProvider(keys);
    expect(await provider.authenticate(bearer(created.key))).toEqual({ subject: 'ci-bot', tenant: 'acme', roles: ['user', 'deployer'], provider: 'api-key' });
    expect(keys.get(created.id)?.lastUsedMs).toBe(clock);

    const secret = created.key.slice(`agd_${created.id}_`.length);
    const db = new Database(store.path, { readonly: true });
    try {
      const raw = JSON.stringify(db.prepare('SELECT * FROM api_keys').all());
      expect(raw).not.toContain(secret);
      expect(raw).not.toContain(secret.slice(0, 16));
      expect(raw).toMatch(/hmac-sha256\$/);
    } finally {
      db.close();
    }
  });

  test('a wrong secret, an unknown id and a revoked key are refused with the same message', async () => {
    const a = keys.create({ subject: 'a', tenant: 't', roles: [] });
    const b = keys.create({ subject: 'b', tenant: 't', roles: [] });
    const provider = apiKeyProvider(keys);
    const wrongSecret = `agd_${a.id}_${b.key.slice(-43)}`;
    const unknownId = `agd_ffffffffffffffff_${a.key.slice(-43)}`;
    expect(keys.revoke(b.id)).toBe(true);
    expect(keys.revoke(b.id)).toBe(false);
    const messages = new Set<string>();
    for (const key of [wrongSecret, unknownId, b.key, 'agd_short', `${a.key}x`]) {
      const err = await rejection(provider.authenticate(bearer(key)));
      expect(err.code).toBe('UNAUTHENTICATED');
      expect(err.httpStatus).toBe(401);
      messages.add(err.message);
    }
    expect([...messages]).toEqual(['invalid API key']);
    // The valid key still works.
    expect((await provider.authenticate(bearer(a.key)))?.subject).toBe('a');
  });

  test('requests without an agd_ bearer token are not this provider\'s', async () => {
    const provider = apiKeyProvider(keys);
    expect(await provider.authenticate(httpRequest())).toBeNull();
    expect(await provider.authenticate(bearer('eyJhbGciOiJIUzI1NiJ9.e30.x'))).toBeNull();
    expect(await provider.authenticate(httpRequest({ headers: { authorization: 'Basic YTpi' } }))).toBeNull();
  });

  test('list never shows verifiers, hides revoked keys unless asked, filters by tenant', () => {
    const a = keys.create({ subject: 'a', tenant: 't1', roles: ['admin'] });
    const b = keys.create({ subject: 'b', tenant: 't2', roles: [] });
    clock += 5;
    keys.revoke(b.id);
    expect(keys.list().map((k) => k.id)).toEqual([a.id]);
    const all = keys.list({ includeRevoked: true });
    expect(all.map((k) => k.id).sort()).toEqual([a.id, b.id].sort());
    expect(all.find((k) => k.id === b.id)?.revokedAtMs).toBe(clock);
    expect(keys.list({ tenant: 't2', includeRevoked: true }).map((k) => k.id)).toEqual([b.id]);
    for (const k of all) expect(Object.keys(k)).not.toContain('hash');
  });

  test('last_used is written at most once a second per key', () => {
    const a = keys.create({ subject: 'a', tenant: 't', roles: [] });
    keys.verify(a.key);
    const first = clock;
    clock += 400;
    keys.verify(a.key);
    expect(keys.get(a.id)?.lastUsedMs).toBe(first);
    clock += 600;
    keys.verify(a.key);
    expect(keys.get(a.id)?.lastUsedMs).toBe(clock);
  });

  test('empty subject or tenant is refused', () => {
    expect(() => keys.create({ subject: '', tenant: 't', roles: [] })).toThrow(/non-empty/);
  });
});
