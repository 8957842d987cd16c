/**
 * A backend that cannot enforce memory limits refuses an intent's max_memory_bytes the way it
 * refuses limits.memory_bytes: a real daemon on host-direct, run as an unprivileged user
 * (nobody: no cgroup it may write to), answers LIMIT_UNSUPPORTED to both, and still runs
 * intents that ask for no limit. The daemon's sources are transpiled for the child as in
 * test/namespace/child-build.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nativePaths } from '../../src/native-paths.js';
import { ALL_SOURCES, buildDaemonSources } from '../namespace/child-build.js';

const MiB = 1024 * 1024;

const reason = process.getuid?.() !== 0
  ? 'needs root to switch to an unprivileged user'
  : spawnSync('setpriv', ['--version']).status !== 0 ? 'setpriv (util-linux) missing' : undefined;
if (reason !== undefined) console.warn(`skipping the unprivileged host-direct intent test: ${reason}`);

/** Run as nobody: a host-direct daemon on port 0, three requests to it, the answers printed as JSON. */
const CHILD = `
const [src, home] = process.argv.slice(1);
const { parseConfig } = await import(src + '/config/parse.js');
const { startDaemon } = await import(src + '/runtime/daemon.js');
const { readFileSync } = await import('node:fs');
const config = parseConfig({ home, isolation: { backend: 'host-direct' }, sandbox: { network: 'host', limits: { memory_bytes: 0, pids: 0, cpus: 0, disk_bytes: 0 } }, adapters: { http: { listen: '127.0.0.1:0' }, unix: { enabled: false } }, log: { level: 'error' } }, {}, {});
const daemon = await startDaemon(config, { stopGraceMs: 500 });
const authorization = 'Bearer ' + readFileSync(daemon.tokenFile, 'utf8').trim();
const post = async (path, body) => {
  const res = await fetch(daemon.address + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};
try {
  const constrained = await post('/v1/intents', { capability: 'shell.exec.v1', params: { argv: ['touch', home + '/ran'] }, constraints: { max_memory_bytes: ${64 * MiB} } });
  const created = await post('/v1/sandboxes', { limits: { memory_bytes: ${64 * MiB} } });
  const plain = await post('/v1/intents', { capability: 'shell.exec.v1', params: { argv: ['id', '-u'] } });
  console.log(JSON.stringify({ constrained, created, plain }));
} finally {
  await daemon.close();
}
`;

interface Answer {
  status: number;
  body: { code?: string; message?: string; error?: { code: string; message: string; details: Record<string, unknown> }; result?: { stdout?: string } };
}

describe.skipIf(reason !== undefined)('host-direct as an unprivileged user: max_memory_bytes', () => {
  let out: string;
  let home: string;

  beforeAll(async () => {
    out = await buildDaemonSources(ALL_SOURCES, 'agentd-hd-nobody-');
    await chmod(out, 0o755);
    home = await mkdtemp(join(tmpdir(), 'agentd-hd-nobody-home-'));
    await chmod(home, 0o777);
  }, 60_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
    if (home) await rm(home, { recursive: true, force: true });
  });

  test('is refused with LIMIT_UNSUPPORTED, like limits.memory_bytes, and nothing runs; an intent without it runs', async () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '--input-type=module', '-e', CHILD, join(out, 'src'), home], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AGENTD_INIT_PATH: nativePaths().init },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { constrained: Answer; created: Answer; plain: Answer };

    expect(res.constrained.status).toBe(400);
    expect(res.constrained.body.code).toBe('LIMIT_UNSUPPORTED');
    // Refused before the backend starts anything (isolation/profile-guard.ts assertLimitsEnforceable), naming the limit and why: no cgroup this user may write to.
    expect(res.constrained.body.error?.message).toMatch(/^backend 'host-direct' cannot enforce limits\.memory_bytes \(request\) = 67108864 \(.*cgroup.*\) on this host/);
    expect(res.created.status).toBe(400);
    expect(res.created.body.error?.code).toBe('LIMIT_UNSUPPORTED');
    // The same refusal, word for word, whichever way the limit was asked for.
    expect(res.constrained.body.error?.message).toBe(res.created.body.error?.message);
    expect(spawnSync('test', ['-e', join(home, 'ran')]).status).toBe(1);

    expect(res.plain.body.code).toBe('OK');
    expect(res.plain.body.result?.stdout).toBe('65534\n');
  }, 90_000);
});
