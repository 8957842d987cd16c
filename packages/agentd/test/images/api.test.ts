/**
 * Images and templates through the daemon's REST API: list and inspect for any caller;
 * build, import and removal for the admin role only (PERMISSION_DENIED otherwise, before any
 * work); import of a tarball as the request body; removal refused while a sandbox uses the
 * image; a template of the config gives its image, env, limits and start command, and a
 * failing start command fails the create and leaves no sandbox.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { linkCachedImages, TEST_IMAGE } from './helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('image API tests skipped: images need a root daemon');

describe.skipIf(!isRoot)('images and templates over REST', () => {
  let d: TestDaemon;
  let userKey: string;
  let work: string;

  beforeAll(async () => {
    d = await startTestDaemon({
      auth: { providers: [{ type: 'local-token' }, { type: 'peer-creds' }, { type: 'api-key' }] },
      templates: {
        py: { image: TEST_IMAGE, env: { GREETING: 'from-template' }, limits: { pids: 300 }, start_command: 'echo started > /workspace/started' },
        broken: { image: TEST_IMAGE, start_command: 'echo no-good >&2; exit 3' },
      },
    });
    await linkCachedImages(d.home);
    const k = await d.call('POST', '/v1/keys', { body: { subject: 'bob', tenant: 'default', roles: ['user'] } });
    expect(k.status, k.text).toBe(201);
    userKey = k.body.key as string;
    work = await mkdtemp(join(tmpdir(), 'agentd-img-api-'));
  }, 900_000);
  afterAll(async () => {
    await d?.close();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  const asUser = { headers: { authorization: '' } };
  const user = (): typeof asUser => ({ headers: { authorization: `Bearer ${userKey}` } });

  it('lists and inspects images for any caller; build, import and rm need the admin role', async () => {
    const ls = await d.call('GET', '/v1/images', user());
    expect(ls.status, ls.text).toBe(200);
    expect(ls.body.images.map((i: { name: string }) => i.name)).toContain(TEST_IMAGE);
    const one = await d.call('GET', `/v1/images/${TEST_IMAGE}`, user());
    expect(one.body).toMatchObject({ name: TEST_IMAGE, source: { kind: 'mmdebstrap', packages: ['python3', 'python3-pytest'] } });
    expect((await d.call('GET', '/v1/images/nope', user())).body.error.code).toBe('NOT_FOUND');
    expect((await d.call('GET', '/v1/images/..%2Fx', user())).body.error.code).toBe('INVALID_ARGUMENT');
    for (const [method, path, body] of [['POST', '/v1/images/build', { name: 'x', packages: [] }], ['DELETE', `/v1/images/${TEST_IMAGE}`, undefined]] as const) {
      const r = await d.call(method, path, { ...user(), ...(body === undefined ? {} : { body }) });
      expect(r.status, r.text).toBe(403);
      expect(r.body.error.code).toBe('PERMISSION_DENIED');
    }
    const imp = await d.call('POST', '/v1/images/import?name=up', { ...user(), raw: Buffer.from('x'), contentType: 'application/octet-stream' });
    expect(imp.body.error.code).toBe('PERMISSION_DENIED');
    // A bad package name never reaches mmdebstrap.
    expect((await d.call('POST', '/v1/images/build', { body: { name: 'x', packages: ['bad name;rm'] } })).body.error.code).toBe('INVALID_ARGUMENT');
    expect(asUser.headers.authorization).toBe('');
  });

  it('imports a tarball sent as the body (admin), then removes it; an image in use is not removed', async () => {
    const fs = join(work, 'fs');
    await mkdir(join(fs, 'etc'), { recursive: true });
    await writeFile(join(fs, 'etc/hello'), 'hi\n');
    execFileSync('tar', ['-C', fs, '--owner=0', '--group=0', '-cf', join(work, 'fs.tar'), '.']);
    const r = await d.call('POST', '/v1/images/import?name=uploaded', { raw: await readFile(join(work, 'fs.tar')), contentType: 'application/octet-stream' });
    expect(r.status, r.text).toBe(201);
    expect(r.body).toMatchObject({ name: 'uploaded', source: { kind: 'tar' } });
    const del = await d.call('DELETE', '/v1/images/uploaded');
    expect(del.status, del.text).toBe(200);
    expect(del.body).toMatchObject({ name: 'uploaded', blob_removed: true });
    // In use: refused.
    const c = await d.call('POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } });
    expect(c.status, c.text).toBe(201);
    const busy = await d.call('DELETE', `/v1/images/${TEST_IMAGE}`);
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatchObject({ code: 'CONFLICT', details: { sandboxes: [c.body.id] } });
    expect((await d.call('DELETE', `/v1/sandboxes/${c.body.id}`)).status).toBeLessThan(300);
  }, 120_000);

  it('a template gives its image, env, limits and start command; a failing start command fails the create', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: { template: 'py', env: { EXTRA: '1' } } });
    expect(c.status, c.text).toBe(201);
    const id = c.body.id as string;
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'cat /workspace/started; echo $GREETING $EXTRA; python3 -c "import pytest; print(1)"' } });
    expect(r.body.stdout).toBe('started\nfrom-template 1\n1\n');
    const info = await d.call('GET', `/v1/sandboxes/${id}`);
    expect(info.body.limits.pids).toBe(300);
    expect(info.body.image).toMatchObject({ name: TEST_IMAGE, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
    const before = (await d.call('GET', '/v1/sandboxes')).body.sandboxes.length as number;
    const bad = await d.call('POST', '/v1/sandboxes', { body: { template: 'broken' } });
    expect(bad.body.error.code, bad.text).toBe('EXEC_FAILED');
    expect(bad.body.error.message).toContain('no-good');
    expect((await d.call('GET', '/v1/sandboxes')).body.sandboxes.length).toBe(before);
    expect((await d.call('POST', '/v1/sandboxes', { body: { template: 'nope' } })).body.error.code).toBe('NOT_FOUND');
  }, 120_000);
});
