/**
 * A root daemon's sandboxes run as their own host uids, which must reach `<home>/sandboxes`:
 * a home made inside a 0700 folder (mktemp -d) is refused when the daemon starts, naming the
 * folder, instead of starting fine and failing every create (issue 10, item 5).
 */
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { startOnHome } from '../attack/life-helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.info('home-reach: skipped, the daemon is not root (sandboxes run as the daemon\'s own uid then)');

describe.skipIf(!isRoot)('a home the sandboxes cannot reach (root daemon, namespace backend)', () => {
  test('a 0700 home is the daemon\'s own and made searchable; a home inside a 0700 folder is refused naming that folder; once it is searchable the daemon starts', async () => {
    const own = await mkdtemp(join(tmpdir(), 'agentd-reach-own-'));
    try {
      const d = await startOnHome(own, `agentd-test-reach-own-${process.pid}`);
      await d.stop();
      expect((await stat(own)).mode & 0o777).toBe(0o711);
    } finally {
      await rm(own, { recursive: true, force: true });
    }
    const outer = await mkdtemp(join(tmpdir(), 'agentd-reach-'));
    try {
      expect((await stat(outer)).mode & 0o777).toBe(0o700);
      const home = join(outer, 'home');
      await mkdir(home, { mode: 0o711 });
      const parent = `agentd-test-reach-${process.pid}`;
      const err = await startOnHome(home, parent).then(
        async (d) => {
          await d.stop();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AgentdError);
      expect((err as AgentdError).code).toBe('BACKEND_UNAVAILABLE');
      expect((err as AgentdError).message).toContain(`${outer} is not searchable by others`);
      await chmod(outer, 0o711);
      const d = await startOnHome(home, parent);
      try {
        const created = await d.call('POST', '/v1/sandboxes', { body: {} });
        expect(created.status).toBe(201);
        expect((await stat(join(home, 'sandboxes'))).mode & 0o777).toBe(0o711);
      } finally {
        await d.stop();
      }
    } finally {
      await rm(outer, { recursive: true, force: true });
    }
  }, 60_000);
});
