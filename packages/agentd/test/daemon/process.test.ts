import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localCall } from './harness.js';
import { configToml, ensureBuilt, startDaemonChild, type DaemonChild } from './child.js';


/**
 * Live processes whose cgroup path lies under our test parent (any hierarchy). Zombies are
 * not counted: they have exited and hold nothing but a pid. The old daemon's bwrap and init
 * become zombies of the machine's PID 1 when the daemon is SIGKILLed, and this machine's
 * PID 1 reaps them late.
 */
async function processesInCgroups(parent: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    if (/^\d+ \(.*\) Z /s.test(stat)) continue;
    const cg = await readFile(`/proc/${p}/cgroup`, 'utf8').catch(() => '');
    if (cg.includes(`/${parent}/`)) pids.push(Number(p));
  }
  return pids;
}

/** Sandbox cgroup folders left under our parent, in every mounted hierarchy. */
async function cgroupDirs(parent: string): Promise<string[]> {
  const out: string[] = [];
  for (const h of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    for (const e of await readdir(join('/sys/fs/cgroup', h, parent), { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) out.push(join(h, parent, e.name));
  }
  return out;
}

describe('daemon as a child process: crash recovery, SIGHUP, SIGTERM', () => {
  let home: string;
  let parent: string;
  let file: string;
  const children: DaemonChild[] = [];
  const start = async (): Promise<DaemonChild> => {
    const c = await startDaemonChild(file);
    children.push(c);
    return c;
  };

  beforeAll(() => {
    ensureBuilt();
  }, 240_000);

  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.child.exitCode === null && c.child.signalCode === null) {
        c.child.kill('SIGTERM');
        await c.exited;
      }
    }
    await rm(home, { recursive: true, force: true });
  });

  const setup = async (extra = ''): Promise<void> => {
    home = await mkdtemp(join(tmpdir(), 'agentd-proc-'));
    await chmod(home, 0o711);
    parent = `agentd-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    file = join(home, 'agentd.toml');
    await writeFile(file, configToml(home, parent, extra));
  };

  it('after SIGKILL and restart: files intact, state stopped, no orphan process or cgroup, start works', async () => {
    await setup();
    const a = await start();
    const call = (method: string, path: string, o = {}) => localCall(home, a.address)(method, path, o);
    const sbx = (await call('POST', '/v1/sandboxes', { body: { labels: { keep: 'me' } } })).body.id as string;
    await call('PUT', `/v1/sandboxes/${sbx}/files?path=notes/kept.txt&create_dirs=true`, { raw: 'survives a crash' });
    await call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'sleep 1000 >/dev/null 2>&1 &' } });
    expect((await processesInCgroups(parent)).length).toBeGreaterThan(0);

    a.child.kill('SIGKILL');
    await a.exited;

    const b = await start();
    const call2 = (method: string, path: string, o = {}) => localCall(home, b.address)(method, path, o);
    // Recovery ran before the daemon said ready: nothing of the old run is left.
    expect(await processesInCgroups(parent)).toEqual([]);
    expect(await cgroupDirs(parent)).toEqual([]);
    const g = await call2('GET', `/v1/sandboxes/${sbx}`);
    expect(g.body).toMatchObject({ id: sbx, state: 'stopped', labels: { keep: 'me' } });
    expect((await call2('GET', '/v1/sandboxes?state=stopped')).body.sandboxes.map((s: { id: string }) => s.id)).toEqual([sbx]);
    expect((await call2('POST', `/v1/sandboxes/${sbx}/exec`, { body: { argv: ['true'] } })).body.error.code).toBe('CONFLICT');
    const s = await call2('POST', `/v1/sandboxes/${sbx}/start`);
    expect(s.body.state).toBe('running');
    // The default disk limit: the files live in the sandbox's own volume, mounted while it runs.
    expect(await readFile(join(home, 'sandboxes', sbx, 'volume', 'workspace', 'notes', 'kept.txt'), 'utf8')).toBe('survives a crash');
    expect((await call2('GET', `/v1/sandboxes/${sbx}/files?path=notes/kept.txt`)).text).toBe('survives a crash');
    expect((await call2('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'pgrep -c sleep || true' } })).body.stdout.trim()).toBe('0');
  });

  it('SIGHUP with a bad file keeps the running config and says why; a good file is applied', async () => {
    await setup();
    const a = await start();
    const call = (method: string, path: string, o = {}) => localCall(home, a.address)(method, path, o);
    await writeFile(file, configToml(home, parent, '\n[pool]\nmin_warm = "lots"\n'));
    a.child.kill('SIGHUP');
    const failed = await a.nextEvent();
    expect(failed).toMatchObject({ event: 'reload_failed', code: 'INVALID_CONFIG' });
    expect(String(failed.message)).toContain('min_warm');
    // The log line says why (pino writes asynchronously: give it a moment).
    for (let i = 0; i < 40 && !a.stderr().includes('reload failed'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(a.stderr()).toContain('reload failed: keeping the running configuration');
    expect((await call('GET', '/healthz')).status).toBe(200);
    const one = await call('POST', '/v1/sandboxes', { body: {} });
    const two = await call('POST', '/v1/sandboxes', { body: {} });
    expect([one.status, two.status]).toEqual([201, 201]);

    await writeFile(file, configToml(home, parent, '\n[sandbox]\nmax_sandboxes = 2\n'));
    a.child.kill('SIGHUP');
    expect(await a.nextEvent()).toMatchObject({ event: 'reloaded' });
    const three = await call('POST', '/v1/sandboxes', { body: {} });
    expect(three.status).toBe(429);
  });

  it('a SIGHUP sent the moment the ready line is read reloads; the daemon never dies of it (its handler is in place before that line)', async () => {
    await setup();
    // Before the fix, a daemon signalled at once died of the signal's default action in most tries.
    for (let i = 0; i < 3; i++) {
      const a = await start();
      a.child.kill('SIGHUP');
      expect(await a.nextEvent()).toMatchObject({ event: 'reloaded' });
      a.child.kill('SIGTERM');
      expect(await a.exited).toEqual({ code: 0, signal: null });
    }
  });

  it('SIGTERM lets an in-flight exec finish, stops sandboxes (files kept) and exits 0', async () => {
    await setup();
    const a = await start();
    const call = (method: string, path: string, o = {}) => localCall(home, a.address)(method, path, o);
    const sbx = (await call('POST', '/v1/sandboxes', { body: {} })).body.id as string;
    const inflight = call('POST', `/v1/sandboxes/${sbx}/exec`, { body: { command: 'sleep 0.7; echo finished' } });
    await new Promise((r) => setTimeout(r, 200));
    a.child.kill('SIGTERM');
    const r = await inflight;
    expect(r.body.stdout).toBe('finished\n');
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(await processesInCgroups(parent)).toEqual([]);
    const b = await start();
    expect((await localCall(home, b.address)('GET', `/v1/sandboxes/${sbx}`)).body.state).toBe('stopped');
  });
});
