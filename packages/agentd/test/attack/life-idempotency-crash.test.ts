import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/parse.js';
import { startDaemon, type Daemon } from '../../src/runtime/daemon.js';
import { childHome } from './life-helpers.js';
import { ensureBuilt, startDaemonChild } from '../daemon/child.js';
import { rawCall } from '../daemon/harness.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('idempotency across a daemon crash (root: real bwrap and cgroups)', () => {
  let home: string;
  let file: string;
  const parent = `agentd-test-idem-${process.pid}`;
  beforeAll(async () => {
    ensureBuilt();
    ({ home, file } = await childHome('agentd-idem-', parent));
  }, 240_000);
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  test('a retry of a key whose run was cut by a SIGKILL is answered CONFLICT interrupted, and the command is not run again', async () => {
    const child = await startDaemonChild(file);
    const socket = join(home, 'agentd.sock');
    // A fresh sandbox per intent: a second run would succeed on its own, so only the key can stop it.
    const intent = { capability: 'shell.exec.v1', params: { command: 'sleep 4; echo ran' }, metadata: { idempotency_key: 'crash-key-1' } };
    let second: Daemon | undefined;
    try {
      const first = rawCall({ socket }, 'POST', '/v1/intents', { body: intent }).catch(() => undefined);
      // The claim is taken before the sandbox is leased: once the sandbox exists, the key is in flight.
      for (let i = 0; i < 200; i++) {
        const list = await rawCall({ socket }, 'GET', '/v1/sandboxes');
        if ((list.body.sandboxes as unknown[]).length > 0) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      child.child.kill('SIGKILL');
      await child.exited;
      await first;

      const config = parseConfig({ home, isolation: { backend: 'namespace', backends: { namespace: { cgroup_parent: parent } } }, adapters: { http: { listen: '127.0.0.1:0' }, unix: { path: socket } } }, {}, {});
      second = await startDaemon(config, { sweepIntervalMs: 100, stopGraceMs: 500 });
      const retry = await rawCall({ socket }, 'POST', '/v1/intents', { body: intent });
      expect(retry.status).toBe(409);
      expect(retry.body.code).toBe('CONFLICT');
      expect(retry.body.error.details).toMatchObject({ idempotency_key: 'crash-key-1', interrupted: true });
      expect(retry.body.message).toMatch(/interrupted by a daemon restart; its effects are unknown/);
      expect(retry.body.result).toBeUndefined();
      // The same answer again: the key stays interrupted, it is never claimed afresh.
      expect((await rawCall({ socket }, 'POST', '/v1/intents', { body: intent })).body.error.details.interrupted).toBe(true);
      // A new key runs it.
      const fresh = await rawCall({ socket }, 'POST', '/v1/intents', { body: { ...intent, params: { command: 'echo ran' }, metadata: { idempotency_key: 'crash-key-2' } } });
      expect(fresh.body.result.stdout).toBe('ran\n');
    } finally {
      if (child.child.exitCode === null && child.child.signalCode === null) {
        child.child.kill('SIGKILL');
        await child.exited;
      }
      await second?.close();
    }
  }, 60_000);
});
