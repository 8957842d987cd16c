import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { AgentdError } from '../../src/core/errors.js';
import { startDaemon, type Daemon } from '../../src/runtime/daemon.js';
import { childHome } from './life-helpers.js';
import { ensureBuilt, startDaemonChild } from '../daemon/child.js';
import { rawCall, startTestDaemon, type TestDaemon } from '../daemon/harness.js';

const isRoot = process.getuid?.() === 0;

/** Starts a second daemon on `config` and returns what it threw (closing it if it wrongly started). */
async function secondDaemonError(config: Daemon['config']): Promise<unknown> {
  try {
    const d = await startDaemon(config, { sweepIntervalMs: 100, stopGraceMs: 500 });
    await d.close();
    return undefined;
  } catch (err) {
    return err;
  }
}

describe.skipIf(!isRoot)('home lock: a second daemon on the same home exits and touches nothing (root: real bwrap and cgroups)', () => {
  let first: TestDaemon;
  beforeAll(async () => {
    first = await startTestDaemon();
  });
  afterAll(async () => {
    await first.close();
  });

  test('a second daemon in the same process is refused with UNAVAILABLE naming the first pid; the first daemon\'s sandbox keeps running', async () => {
    const created = await first.call('POST', '/v1/sandboxes', { body: {} });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const before = await first.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo $$ > /tmp/pid; echo alive' } });
    expect(before.body.stdout).toBe('alive\n');

    const err = await secondDaemonError(first.daemon.config);
    expect(err).toBeInstanceOf(AgentdError);
    expect((err as AgentdError).code).toBe('UNAVAILABLE');
    expect((err as AgentdError).message).toContain(`another agentd (pid ${process.pid}) is running on the home ${first.home}`);

    // Nothing was touched: the sandbox is still running (the same init: /tmp survived) and its record says so.
    const after = await first.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'cat /tmp/pid >/dev/null && echo still' } });
    expect(after.status).toBe(200);
    expect(after.body.stdout).toBe('still\n');
    expect((await first.call('GET', `/v1/sandboxes/${id}`)).body.state).toBe('running');
    // The socket is still the first daemon's.
    expect((await first.call('GET', '/healthz', { unix: true })).status).toBe(200);
  });
});

describe.skipIf(!isRoot)('home lock across processes: refused while the holder lives, free once it is SIGKILLed', () => {
  let home: string;
  let file: string;
  beforeAll(async () => {
    ensureBuilt();
    const parent = `agentd-test-lock-${process.pid}`;
    ({ home, file } = await childHome('agentd-lock-', parent));
  }, 240_000);
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  test('names the other process\'s pid, leaves its sandbox alive; after a SIGKILL the next daemon starts and recovers', async () => {
    const child = await startDaemonChild(file);
    let second: Daemon | undefined;
    try {
      const target = { socket: join(home, 'agentd.sock') };
      const created = await rawCall(target, 'POST', '/v1/sandboxes', { body: {} });
      expect(created.status).toBe(201);
      const id = created.body.id as string;

      const config = parseConfig({ home, isolation: { backend: 'namespace', backends: { namespace: { cgroup_parent: `agentd-test-lock-${process.pid}` } } }, adapters: { http: { listen: '127.0.0.1:0' }, unix: { path: join(home, 'second.sock') } } }, {}, {});
      const err = await secondDaemonError(config);
      expect((err as AgentdError).code).toBe('UNAVAILABLE');
      expect((err as AgentdError).message).toContain(`another agentd (pid ${child.child.pid}) is running on the home ${home}`);
      expect((err as AgentdError).details.holder_pid).toBe(child.child.pid);
      const still = await rawCall(target, 'POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'echo ok' } });
      expect(still.body.stdout).toBe('ok\n');

      // The kernel drops the lock with the process: no stale lock after a crash.
      child.child.kill('SIGKILL');
      await child.exited;
      second = await startDaemon(config, { sweepIntervalMs: 100, stopGraceMs: 500 });
      expect(second.recovery.stopped).toEqual([id]);
    } finally {
      if (child.child.exitCode === null && child.child.signalCode === null) {
        child.child.kill('SIGKILL');
        await child.exited;
      }
      await second?.close();
    }
  }, 60_000);
});
