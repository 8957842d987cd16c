import { chmod, chown, link, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { bwrapTestKey } from '../../src/isolation/namespace/probe-key.js';
import { FileProbeCache } from '../../src/isolation/probe-cache.js';
import { createTextLogger } from '../../src/util/logger.js';

const isRoot = process.geteuid?.() === 0;
const OK = { ok: true, detail: 'bwrap ran a sandbox as uid 1234' } as const;

let home: string;
let lines: string[];
let cache: FileProbeCache;
const entryFile = (): string => join(home, 'cache', 'namespace-userns.json');

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'agentd-probe-cache-'));
  lines = [];
  cache = FileProbeCache.forHome(home, createTextLogger('debug', (l) => lines.push(l)));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('FileProbeCache', () => {
  test('a stored success is returned for the same key, and only for it', async () => {
    await cache.set('namespace-userns', 'key-1', OK);
    const st = await stat(entryFile());
    expect(st.mode & 0o777).toBe(0o600);
    expect((await stat(join(home, 'cache'))).mode & 0o777).toBe(0o700);
    expect(await cache.get('namespace-userns', 'key-1')).toEqual(OK);
    expect(cache.answered()).toEqual(['namespace-userns']);
    const other = FileProbeCache.forHome(home, createTextLogger('silent'));
    expect(await other.get('namespace-userns', 'key-2')).toBeUndefined();
    expect(other.answered()).toEqual([]);
  });

  test('a failure is never stored', async () => {
    await cache.set('namespace-userns', 'key-1', { ok: false, detail: 'bwrap failed' });
    expect(await readdir(home)).toEqual([]);
    await cache.set('namespace-userns', 'key-1', OK);
    await cache.set('namespace-userns', 'key-1', { ok: false, detail: 'bwrap failed' });
    expect(await cache.get('namespace-userns', 'key-1')).toEqual(OK);
  });

  test('no home: nothing is stored and nothing throws (the home is never created by the cache)', async () => {
    const gone = FileProbeCache.forHome(join(home, 'missing'), createTextLogger('silent'));
    await gone.set('namespace-userns', 'k', OK);
    expect(await gone.get('namespace-userns', 'k')).toBeUndefined();
    expect(await readdir(home)).toEqual([]);
  });

  test.each([
    ['not JSON', '{"format":1,'],
    ['another format', JSON.stringify({ format: 99, key: 'k', storedAt: 'x', value: { ok: true } })],
    ['a stored failure', JSON.stringify({ format: 1, key: 'k', storedAt: 'x', value: { ok: false, detail: 'no' } })],
    ['a value of the wrong shape', JSON.stringify({ format: 1, key: 'k', storedAt: 'x', value: 'ok' })],
  ])('a corrupt entry (%s) is a miss, and the next store replaces it', async (_what, text) => {
    await mkdir(join(home, 'cache'), { mode: 0o700 });
    await writeFile(entryFile(), text, { mode: 0o600 });
    expect(await cache.get('namespace-userns', 'k')).toBeUndefined();
    await cache.set('namespace-userns', 'k', OK);
    expect(await cache.get('namespace-userns', 'k')).toEqual(OK);
  });

  test('a file writable by group or others is ignored', async () => {
    await cache.set('namespace-userns', 'k', OK);
    await chmod(entryFile(), 0o620);
    expect(await cache.get('namespace-userns', 'k')).toBeUndefined();
    expect(lines.join('')).toMatch(/writable by group or others \(mode 620\)/);
  });

  test('a folder writable by others is neither read nor written', async () => {
    await cache.set('namespace-userns', 'k', OK);
    await chmod(join(home, 'cache'), 0o777);
    expect(await cache.get('namespace-userns', 'k')).toBeUndefined();
    await rm(entryFile());
    await cache.set('namespace-userns', 'k', OK);
    expect(await readdir(join(home, 'cache'))).toEqual([]);
  });

  test('a symlink in place of the entry is not followed, even to a valid entry', async () => {
    await cache.set('namespace-userns', 'k', OK);
    const real = join(home, 'elsewhere.json');
    await writeFile(real, await readFile(entryFile()), { mode: 0o600 });
    await rm(entryFile());
    await symlink(real, entryFile());
    expect(await cache.get('namespace-userns', 'k')).toBeUndefined();
  });

  test('a hard-linked entry is ignored', async () => {
    await cache.set('namespace-userns', 'k', OK);
    await link(entryFile(), join(home, 'second-name.json'));
    expect(await cache.get('namespace-userns', 'k')).toBeUndefined();
    expect(lines.join('')).toMatch(/has 2 links/);
  });

  test('forgetAnswered() removes exactly the entries that were answered', async () => {
    await cache.set('namespace-userns', 'k', OK);
    await cache.set('other-entry', 'k', OK);
    expect(await cache.get('namespace-userns', 'k')).toEqual(OK);
    await cache.forgetAnswered();
    expect(cache.answered()).toEqual([]);
    expect(await readdir(join(home, 'cache'))).toEqual(['other-entry.json']);
  });
});

describe.skipIf(!isRoot)('FileProbeCache: files of another user (needs root to chown; skipped when not root)', () => {
  test('an entry owned by another uid is ignored, however valid', async () => {
    await cache.set('namespace-userns', 'k', OK);
    await chown(entryFile(), 4242, 4242);
    expect(await cache.get('namespace-userns', 'k')).toBeUndefined();
    expect(lines.join('')).toMatch(/owned by uid 4242, not by this user \(uid 0\)/);
  });

  test('a folder owned by another uid is neither read nor written', async () => {
    await cache.set('namespace-userns', 'k', OK);
    await chown(join(home, 'cache'), 4242, 4242);
    expect(await cache.get('namespace-userns', 'k')).toBeUndefined();
    await rm(entryFile());
    await cache.set('namespace-userns', 'k', OK);
    expect(await readdir(join(home, 'cache'))).toEqual([]);
  });
});

describe('bwrapTestKey', () => {
  test('is stable for the same inputs and changes with the argv or any file\'s identity', async () => {
    const file = join(home, 'bwrap');
    await writeFile(file, '#!/bin/sh\n', { mode: 0o755 });
    const input = { argv: [file, '--unshare-user', '--', 'true'], files: [file] };
    const k1 = bwrapTestKey(input);
    expect(k1).toMatch(/^[0-9a-f]{64}$/);
    expect(bwrapTestKey(input)).toBe(k1);
    expect(bwrapTestKey({ ...input, argv: [...input.argv.slice(0, -1), 'false'] })).not.toBe(k1);
    const past = new Date(Date.now() - 3600_000);
    await utimes(file, past, past);
    const k2 = bwrapTestKey(input);
    expect(k2).not.toBe(k1);
    await chmod(file, 0o4755);
    expect(bwrapTestKey(input)).not.toBe(k2);
    await rm(file);
    expect(bwrapTestKey(input)).not.toBe(k2);
  });
});
