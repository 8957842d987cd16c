/**
 * A podman sandbox on an image of agentd's store: imported into podman's store once per
 * digest, root inside (uid 0 of the sandbox's own user namespace, not host root) can install
 * into `/`, the agent user cannot, and an image missing from the store is refused clearly.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ImageStore } from '../../src/images/store.js';
import { runAsUser } from '../../src/images/exec-user.js';
import { AgentdError } from '../../src/core/errors.js';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { cachedImageStore, TEST_IMAGE } from '../images/helpers.js';
import { harness, noteSkip, run, type Harness } from './fixture.js';

describe.skipIf(noteSkip('images'))('podman backend with an image', () => {
  let h: Harness;
  let image: { name: string; digest: string; rootfs: string };
  beforeAll(async () => {
    const dir = await cachedImageStore();
    image = await new ImageStore(dir).resolve(TEST_IMAGE);
    h = await harness();
  }, 900_000);
  afterAll(async () => {
    await h?.close();
  }, 120_000);

  const as = (s: SandboxHandle, user: 'root' | 'agent', script: string) => {
    const r = runAsUser(s.spec, user, ['/bin/sh', '-c', script], { ...s.baseEnv });
    return run(s, r.argv, { env: r.env, timeoutMs: 60_000 });
  };

  test('python with pytest runs; root inside writes /, the agent user cannot; host uid is the sandbox block', async () => {
    const s = await h.start({ image });
    const py = await as(s, 'agent', 'python3 -c "import pytest; print(pytest.__name__)"; id -u');
    expect(py.stdout.toString()).toBe('pytest\n1000\n');
    const root = await as(s, 'root', 'id -u && touch /etc/agentd-root-test && echo ok; cat /proc/self/uid_map | tr -s " "');
    expect(root.stdout.toString()).toMatch(/^0\nok\n 0 [1-9]\d{5,} 65536\n$/);
    const agent = await as(s, 'agent', 'touch /etc/agentd-agent-test 2>&1; echo rc=$?');
    expect(agent.stdout.toString()).toMatch(/Permission denied\s+rc=1/);
    // Root inside has no capability outside the set: mknod and mount are refused.
    const mount = await as(s, 'root', 'mount -t tmpfs x /mnt 2>&1; echo rc=$?');
    expect(mount.stdout.toString()).toMatch(/rc=(1|32)/);
    await s.destroy();
    // A second sandbox starts from the same imported image (no second import) and sees none of the first's changes.
    const t = await h.start({ image });
    const clean = await as(t, 'root', 'test -e /etc/agentd-root-test && echo leaked || echo clean');
    expect(clean.stdout.toString()).toBe('clean\n');
    await t.destroy();
  }, 900_000);

  test('an image whose files are gone from the store is refused with NOT_FOUND', async () => {
    const missing = { name: 'gone', digest: `sha256:${'0'.repeat(64)}`, rootfs: join(h.home, 'no-such-image', 'rootfs') };
    const err = await h.start({ image: missing }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('NOT_FOUND');
    expect((err as AgentdError).message).toMatch(/not in agentd's image store/);
  }, 60_000);
});
