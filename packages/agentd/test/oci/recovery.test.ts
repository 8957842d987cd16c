/**
 * A SIGKILLed daemon with running oci sandboxes: the next daemon on the home finds no
 * container of the old one left running (its start-up removes what is left in
 * `<home>/oci/<runtime>`), no process of the old sandbox survives in its cgroup, and the
 * sandbox starts again on its files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createBuiltinRegistry } from '../../src/isolation/builtins.js';
import { nativePaths } from '../../src/native-paths.js';
import { silentLogger } from '../../src/util/logger.js';
import { newHome, startOnHome, type HomeDaemon } from '../attack/life-helpers.js';
import { ensureBuilt, startDaemonChild } from '../daemon/child.js';
import { rawCall } from '../daemon/harness.js';

const backend = 'oci-runc';
const probe = process.getuid?.() === 0 ? (await createBuiltinRegistry().probeAll({ initPath: nativePaths().init, logger: silentLogger })).find((p) => p.backend === backend) : undefined;
const why = process.getuid?.() !== 0 ? 'needs a root daemon' : probe?.available !== true ? `not available here: ${probe?.reason ?? 'not probed'}` : undefined;
if (why !== undefined) console.warn(`oci recovery test skipped: ${why}`);

function runcList(home: string): string[] {
  const root = join(home, 'oci', 'runc');
  if (!existsSync(root)) return [];
  return execFileSync('runc', ['--root', root, 'list', '-q'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).toString().split('\n').filter(Boolean);
}

describe.skipIf(why !== undefined)('recovery after a SIGKILLed daemon with oci sandboxes', () => {
  let home: string;
  let file: string;
  const parent = `agentd-test-ocicrash-${process.pid}`;
  beforeAll(async () => {
    ensureBuilt();
    home = await newHome('agentd-ocicrash-');
    file = join(home, 'agentd.toml');
    await writeFile(file, `profile = "workstation"
home = "${home}"

[isolation]
backend = "${backend}"

[isolation.backends.${backend}]
cgroup_parent = "${parent}"

[adapters.http]
listen = "127.0.0.1:0"

[adapters.unix]
path = "${join(home, 'agentd.sock')}"
`);
  }, 300_000);
  afterAll(async () => {
    if (home !== undefined) await rm(home, { recursive: true, force: true });
  });

  test('the next start leaves no container or process of the old daemon, and the sandbox runs again', async () => {
    const child = await startDaemonChild(file);
    let next: HomeDaemon | undefined;
    try {
      const socket = { socket: join(home, 'agentd.sock') };
      const c = await rawCall(socket, 'POST', '/v1/sandboxes', { body: {} });
      expect(c.status, c.text).toBe(201);
      const id = c.body.id as string;
      // A background process that would outlive a careless teardown.
      expect((await rawCall(socket, 'POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo kept > /workspace/f; (setsid sleep 600 &) ; true' } })).body.exit_code).toBe(0);
      expect(runcList(home)).toContain(id);
      // The daemon and its foreground runtimes die at once (an OOM kill of the service, a power cut of the unit):
      // nothing deletes the containers' records.
      const runtimes = execFileSync('pgrep', ['-f', `runc --root ${join(home, 'oci', 'runc')} run`]).toString().split('\n').filter(Boolean).map(Number);
      expect(runtimes.length).toBeGreaterThan(0);
      child.child.kill('SIGKILL');
      for (const pid of runtimes) process.kill(pid, 'SIGKILL');
      await child.exited;
      await new Promise((r) => setTimeout(r, 300));
      expect(runcList(home)).toContain(id);
      next = await startOnHome(home, parent, { isolation: { backend, backends: { [backend]: { cgroup_parent: parent } } } });
      expect(next.daemon.recovery.stopped).toEqual([id]);
      expect(runcList(home)).not.toContain(id);
      const procs = `/sys/fs/cgroup/pids/${parent}/${id}/cgroup.procs`;
      expect(existsSync(procs) ? readFileSync(procs, 'utf8').trim() : '').toBe('');
      expect((await next.call('POST', `/v1/sandboxes/${id}/start`)).body.state).toBe('running');
      expect((await next.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'cat /workspace/f' } })).body.stdout).toBe('kept\n');
      expect((await next.call('DELETE', `/v1/sandboxes/${id}`)).status).toBeLessThan(300);
      expect(runcList(home)).toEqual([]);
    } finally {
      if (child.child.exitCode === null && child.child.signalCode === null) {
        child.child.kill('SIGKILL');
        await child.exited;
      }
      await next?.stop();
    }
  }, 300_000);
});
