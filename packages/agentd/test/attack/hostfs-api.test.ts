/**
 * One host uid per sandbox, through the REST API of a real root daemon (namespace backend):
 * sandboxes created over the API run as different host uids, one exhausting a per-user
 * kernel limit (inotify instances) leaves the other's intact, and a fork over the API runs
 * as a new uid owning its copied files.
 */
import { existsSync } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';
import { noteSkip } from '../namespace/fixture.js';
import { hostfsSkip, ownersIn } from './hostfs-fixture.js';

const skip = noteSkip('one host uid per sandbox (API)', hostfsSkip);

const HOG = `
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
fds = []
while libc.inotify_init1(0) >= 0: fds.append(1)
with open('/tmp/hog', 'w') as f: f.write('held %d %s\\n' % (len(fds), os.strerror(ctypes.get_errno())))
time.sleep(30)
`;
const ONE = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print('ok' if libc.inotify_init1(0) >= 0 else 'errno ' + os.strerror(ctypes.get_errno()))
`;

describe.skipIf(skip)('one host uid per sandbox, over the API', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.close();
  });

  /** The host folder holding a sandbox's /tmp (inside its volume when it has a disk limit). */
  const hostTmp = (id: string): string => {
    const plain = join(d.home, 'sandboxes', id, 'tmp');
    return existsSync(plain) ? plain : join(d.home, 'sandboxes', id, 'volume', 'tmp');
  };
  const hostDir = (id: string, part: string): string => join(hostTmp(id), '..', part);

  /** The host uid a sandbox's commands run as: the owner, on the host, of a file one creates. */
  async function hostUid(id: string): Promise<number> {
    const r = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { argv: ['touch', '/tmp/me'] } });
    expect(r.body.exit_code).toBe(0);
    return (await lstat(join(hostTmp(id), 'me'))).uid;
  }

  async function create(): Promise<string> {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(c.status).toBe(201);
    return c.body.id as string;
  }

  test('two sandboxes have different host uids; inotify instances exhausted by one stay available to the other', async () => {
    const a = await create();
    const b = await create();
    const [ua, ub] = [await hostUid(a), await hostUid(b)];
    expect(ua).not.toBe(0);
    expect(ub).not.toBe(0);
    expect(ua).not.toBe(ub);

    const hog = d.call('POST', `/v1/sandboxes/${a}/exec`, { body: { argv: ['python3', '-c', HOG], timeout_ms: 60_000 } }).catch(() => undefined);
    const flag = join(hostTmp(a), 'hog');
    for (let i = 0; i < 200 && !existsSync(flag); i++) await new Promise((r) => setTimeout(r, 50));
    expect((await readFile(flag, 'utf8')).trim()).toMatch(/^held \d+ Too many open files$/);
    const other = await d.call('POST', `/v1/sandboxes/${b}/exec`, { body: { argv: ['python3', '-c', ONE] } });
    expect(String(other.body.stdout).trim()).toBe('ok');
    expect((await d.call('DELETE', `/v1/sandboxes/${a}`)).status).toBe(204);
    await hog;
    expect((await d.call('DELETE', `/v1/sandboxes/${b}`)).status).toBe(204);
  }, 90_000);

  test('a fork over the API runs as a new host uid and owns every file it got', async () => {
    const src = await create();
    await d.call('PUT', `/v1/sandboxes/${src}/files?path=sub/a.txt&create_dirs=true`, { raw: 'v1' });
    const f = await d.call('POST', `/v1/sandboxes/${src}/fork`, { body: {} });
    expect(f.status).toBe(201);
    const fork = f.body.id as string;
    const [us, uf] = [await hostUid(src), await hostUid(fork)];
    expect(uf).not.toBe(us);
    const owners = await ownersIn(hostDir(fork, 'workspace'));
    expect(owners.length).toBeGreaterThanOrEqual(2);
    expect(owners.filter((e) => e.uid !== uf)).toEqual([]);
    expect((await d.call('GET', `/v1/sandboxes/${fork}/files?path=sub/a.txt`)).text).toBe('v1');
  });
});
