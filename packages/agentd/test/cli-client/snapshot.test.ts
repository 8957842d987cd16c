/**
 * `agentd snapshot ls|rm`, the snapshots' fate on `sandbox rm`, the retention settings and the
 * "stopped: agentd sandbox start ID" message: the built CLI as a child process against a real
 * daemon (namespace backend, port 0), authenticated by the daemon's local token found through
 * AGENTD_HOME.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { e2eSkipReason } from '../../../sdk/test/helpers/daemon.js';
import { cliBuilt, runCli, type CliResult } from '../cli/cli.js';
import { startTestDaemon, type TestDaemon } from '../daemon/harness.js';

const skip = e2eSkipReason() ?? (cliBuilt() ? undefined : 'the CLI is not built (npm run build)');
if (skip !== undefined) console.log(`skipping snapshot CLI tests: ${skip}`);

interface WireSnapshot {
  id: string;
  sandbox_id: string;
  name?: string;
  created_at_ms: number;
  size_bytes: number;
}

/** Polls until `check` holds (the sweeper runs every 100 ms here); fails with the last value after 20 s. */
async function eventually<T>(get: () => Promise<T>, check: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  let last = await get();
  while (!check(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await get();
  }
  return last;
}

function cliFor(d: TestDaemon): (...args: string[]) => Promise<CliResult> {
  return (...args) => runCli(args, { AGENTD_HOME: d.home, AGENTD_URL: d.url, AGENTD_SOCKET: undefined, AGENTD_API_KEY: undefined, AGENTD_SIGN_KEY: undefined });
}

async function ok(cli: (...args: string[]) => Promise<CliResult>, ...args: string[]): Promise<string> {
  const r = await cli(...args);
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
  return r.stdout;
}

async function snapshots(cli: (...args: string[]) => Promise<CliResult>, ...filter: string[]): Promise<WireSnapshot[]> {
  return (JSON.parse(await ok(cli, 'snapshot', 'ls', '--json', ...filter)) as { snapshots: WireSnapshot[] }).snapshots;
}

describe.skipIf(skip !== undefined)('agentd snapshot (CLI, real daemon)', { timeout: 180_000 }, () => {
  describe('ls, rm and what sandbox rm does to them', () => {
    let d: TestDaemon;
    let cli: (...args: string[]) => Promise<CliResult>;
    beforeAll(async () => {
      d = await startTestDaemon({ sandbox: { idle_timeout_ms: 1500 } });
      cli = cliFor(d);
    });
    afterAll(async () => {
      await d.close();
    });

    test('ls lists in the REST shape, --sandbox filters, rm deletes and reports an unknown id as NOT_FOUND (exit 1) without stopping', async () => {
      const a = (await ok(cli, 'sandbox', 'create')).trim();
      const b = (await ok(cli, 'sandbox', 'create')).trim();
      const sa = (await ok(cli, 'sandbox', 'snapshot', a, '--name', 'first')).trim();
      const sb = (await ok(cli, 'sandbox', 'snapshot', b)).trim();

      const all = await snapshots(cli);
      expect(all.map((s) => s.id).sort()).toEqual([sa, sb].sort());
      const mine = await snapshots(cli, '--sandbox', a);
      expect(mine).toEqual([{ id: sa, sandbox_id: a, name: 'first', created_at_ms: expect.any(Number), size_bytes: expect.any(Number) }]);
      const table = await ok(cli, 'snapshot', 'ls');
      expect(table.split('\n')[0]).toMatch(/^ID\s+SANDBOX\s+NAME\s+CREATED\s+SIZE$/);
      expect(table).toContain(sa);

      const rm = await cli('snapshot', 'rm', 'snap_nosuch', sa);
      expect(rm.code).toBe(1);
      expect(rm.stderr).toMatch(/^error: NOT_FOUND: no snapshot 'snap_nosuch'\n$/);
      expect(rm.stdout).toBe(`${sa}\n`);
      expect((await snapshots(cli)).map((s) => s.id)).toEqual([sb]);
      // The files are gone too: the daemon answers 404 for the id now.
      expect((await d.call('DELETE', `/v1/snapshots/${sa}`)).status).toBe(404);

      // sandbox rm takes its snapshots along; --keep-files keeps them.
      const sb2 = (await ok(cli, 'sandbox', 'snapshot', b)).trim();
      await ok(cli, 'sandbox', 'rm', '--keep-files', b);
      expect((await snapshots(cli)).map((s) => s.id).sort()).toEqual([sb, sb2].sort());
      await ok(cli, 'sandbox', 'rm', a);
      const c = (await ok(cli, 'sandbox', 'create')).trim();
      const sc = (await ok(cli, 'sandbox', 'snapshot', c)).trim();
      await ok(cli, 'sandbox', 'rm', c);
      expect((await snapshots(cli)).map((s) => s.id)).not.toContain(sc);
      expect(JSON.parse(await ok(cli, 'snapshot', 'rm', '--json', sb, sb2))).toEqual({ deleted: [sb, sb2] });
      expect(await snapshots(cli)).toEqual([]);
    });

    test('the help of snapshot and of sandbox rm states what happens to snapshots', async () => {
      for (const args of [['snapshot', '--help'], ['sandbox', 'rm', '--help']]) {
        const r = await cli(...args);
        expect(r.code).toBe(0);
        expect(r.stdout.replace(/\s+/g, ' ')).toContain("A sandbox's snapshots go with it when it is destroyed");
      }
    });

    test('exec on a sandbox stopped for being idle says to run agentd sandbox start ID, which brings it back', async () => {
      const id = (await ok(cli, 'sandbox', 'create')).trim();
      await ok(cli, 'exec', id, '--', 'sh', '-c', 'echo kept > /workspace/f');
      const info = await eventually(
        async () => JSON.parse(await ok(cli, 'sandbox', 'info', id, '--json')) as { state: string },
        (s) => s.state === 'stopped',
      );
      expect(info.state).toBe('stopped');
      const r = await cli('exec', id, '--', 'true');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`agentd sandbox start ${id}`);
      await ok(cli, 'sandbox', 'start', id);
      expect(await ok(cli, 'exec', id, '--', 'cat', '/workspace/f')).toBe('kept\n');
      await ok(cli, 'sandbox', 'rm', id);
    });
  });

  describe('retention', () => {
    let d: TestDaemon;
    let cli: (...args: string[]) => Promise<CliResult>;
    let clock = Date.now();
    beforeAll(async () => {
      d = await startTestDaemon({ limits: { snapshot_keep_per_sandbox: 2, snapshot_max_age_ms: 3_600_000 } }, { now: () => clock });
      cli = cliFor(d);
    });
    afterAll(async () => {
      await d.close();
    });

    test('snapshot_keep_per_sandbox: the sweeper keeps each sandbox its newest N, another sandbox is not touched', async () => {
      const a = (await ok(cli, 'sandbox', 'create')).trim();
      const b = (await ok(cli, 'sandbox', 'create')).trim();
      const taken: string[] = [];
      for (let i = 0; i < 3; i++) {
        clock += 1000;
        taken.push((await ok(cli, 'sandbox', 'snapshot', a)).trim());
      }
      clock += 1000;
      const other = (await ok(cli, 'sandbox', 'snapshot', b)).trim();
      const left = await eventually(() => snapshots(cli, '--sandbox', a), (l) => l.length <= 2);
      expect(left.map((s) => s.id).sort()).toEqual(taken.slice(1).sort());
      expect((await snapshots(cli, '--sandbox', b)).map((s) => s.id)).toEqual([other]);
      await ok(cli, 'sandbox', 'rm', a, b);
    });

    test('snapshot_max_age_ms: a snapshot older than the limit is deleted, a younger one kept', async () => {
      const a = (await ok(cli, 'sandbox', 'create')).trim();
      const old = (await ok(cli, 'sandbox', 'snapshot', a)).trim();
      clock += 3_000_000;
      const young = (await ok(cli, 'sandbox', 'snapshot', a)).trim();
      // Both are there until the older one passes the hour.
      expect((await snapshots(cli, '--sandbox', a)).map((s) => s.id).sort()).toEqual([old, young].sort());
      clock += 700_000;
      const left = await eventually(() => snapshots(cli, '--sandbox', a), (l) => l.length < 2);
      expect(left.map((s) => s.id)).toEqual([young]);
      await ok(cli, 'sandbox', 'rm', a);
    });
  });

  test('a retention setting out of range is refused at start with the key named', async () => {
    await expect(startTestDaemon({ limits: { snapshot_max_age_ms: 10 } })).rejects.toThrow(/snapshot_max_age_ms/);
  });
});
