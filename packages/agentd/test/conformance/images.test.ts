/**
 * Conformance, images and root inside. A backend reports them in its probe as `images` and
 * `rootInside`: ok means a sandbox created with an image runs on that image (not the host's
 * folders) and `user: root` is uid 0 inside with writes landing in the sandbox's own layer,
 * never in the image; not ok means the request is refused with a clear code. A backend whose
 * probe does not report them yet must do one or the other: the suite accepts a refusal, and
 * holds an accepted image to the same proofs (never silently ignored: an image that was
 * accepted but not used fails). Uses the cached test image (test/images/helpers.ts).
 * Root-inside attacks are in test/images/root-inside.test.ts.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { linkCachedImages, TEST_IMAGE } from '../images/helpers.js';
import { exec, expectRefused, feature, forEachSubject, REFUSAL_CODES, startSubjectDaemon, why } from './harness.js';

const isRoot = process.getuid?.() === 0;

forEachSubject('images', (s) => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startSubjectDaemon(s);
    if (isRoot) await linkCachedImages(d.home);
  }, 900_000);
  afterAll(async () => {
    await d?.close();
  });

  it("a plain sandbox (no image) never runs a command as root: POLICY_DENIED, nothing run", async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(c.status, c.text).toBe(201);
    const r = await d.call('POST', `/v1/sandboxes/${c.body.id}/exec`, { body: { command: 'touch ran-as-root', user: 'root' } });
    expectRefused(r, ['POLICY_DENIED']);
    expect((await d.call('GET', `/v1/sandboxes/${c.body.id}/files/stat?path=ran-as-root`)).status).toBe(422);
    expect((await d.call('DELETE', `/v1/sandboxes/${c.body.id}`)).status).toBe(204);
  });

  const images = feature(s, 'images');
  const rootInside = feature(s, 'rootInside');
  if (images?.ok === false) {
    it(`an image is refused with a clear code (${why(s, 'images')})`, async () => {
      expectRefused(await d.call('POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } }), REFUSAL_CODES);
    });
    return;
  }
  if (!isRoot) {
    it.skip('images: skipped: the image store needs a root daemon here', () => undefined);
    return;
  }

  it(`a sandbox with an image runs on it; root inside writes its own layer, never the image${images === undefined ? " (the probe does not report 'images': a refusal is accepted too)" : ''}`, async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } });
    if (images === undefined && c.status !== 201) {
      expectRefused(c, REFUSAL_CODES);
      console.warn(`conformance images [${s.label}]: the probe does not report 'images' and the backend refuses one: ${c.body.error.code} ${c.body.error.message}`);
      return;
    }
    expect(c.status, c.text).toBe(201);
    const id = c.body.id as string;
    // The host has bubblewrap in /usr/bin; the image does not: a command that sees it runs on the host's folders.
    expect(existsSync('/usr/bin/bwrap')).toBe(true);
    const where = await exec(d, id, { command: "test -e /usr/bin/bwrap && echo host-usr || echo image-usr; python3 -c 'import pytest; print(pytest.__name__)'; id -u" });
    expect(where.stdout, where.stderr).toBe('image-usr\npytest\n1000\n');
    const agentWrite = await exec(d, id, { command: 'echo x > /usr/local/agent-wrote' });
    expect(agentWrite.exit_code).not.toBe(0);
    if (rootInside?.ok === false) {
      expectRefused(await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'id -u', user: 'root' } }), REFUSAL_CODES);
    } else {
      const root = await exec(d, id, { command: 'id -u; echo layer > /usr/local/root-wrote; cat /usr/local/root-wrote', user: 'root' });
      expect(root.stdout, root.stderr).toBe('0\nlayer\n');
      // A second sandbox of the same image does not see the first one's write: the image is untouched.
      const other = await d.call('POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } });
      expect(other.status, other.text).toBe(201);
      expect((await exec(d, other.body.id, { command: 'test -e /usr/local/root-wrote && echo leaked || echo clean' })).stdout).toBe('clean\n');
      expect((await d.call('DELETE', `/v1/sandboxes/${other.body.id}`)).status).toBe(204);
    }
    expect((await d.call('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
  }, 120_000);
});
