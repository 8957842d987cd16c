/**
 * `constraints.max_memory_bytes` and `metadata.priority` applied end to end: intents through
 * a real daemon (namespace backend, real bwrap, real cgroups), answers read over HTTP.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MAX_NICE } from '../../src/channel/frames.js';
import { niceForPriority } from '../../src/capabilities/shell-exec.js';
import { CgroupDriver } from '../../src/isolation/cgroup/index.js';
import { ndjson, startTestDaemon, type Answer, type TestDaemon } from '../daemon/harness.js';
import { noteSkip, skipReason } from '../namespace/fixture.js';

const MiB = 1024 * 1024;
/**
 * max_memory_bytes of a result is the command's peak RSS, which also counts file pages (the
 * program and its libraries) the sandbox's cgroup need not have been charged for: allow that much over the limit.
 */
const RSS_SLACK = 8 * MiB;
/** 256 MiB held by perl (perl-base is essential in Debian, so the sandbox's /usr has it), run without a shell. */
const ALLOC_256M = { argv: ['perl', '-e', '$x = "\\0" x (256 << 20); print length($x), "\\n"'], timeout_ms: 60_000 };
/** 300 MiB through `tail`, which keeps the whole newline-free input in memory; the pipeline's status is tail's. */
const ALLOC_300M_SH = 'head -c 300M /dev/zero | tail >/dev/null';
/** Field 19 of /proc/self/stat: the nice value (counted after the ')' closing the command name). */
const NICE_OF_SELF = 'stat=$(cat /proc/self/stat); rest=${stat##*) }; set -- $rest; shift 16; echo "$1"';

const memoryReason = await (async () => {
  if (skipReason !== undefined) return skipReason;
  try {
    const probe = await new CgroupDriver().probe();
    return probe.controllers.memory.ok ? undefined : `no usable memory cgroup: ${probe.controllers.memory.detail ?? ''}`;
  } catch (err) {
    return `cgroup probe failed: ${(err as Error).message}`;
  }
})();

async function waitFor(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.skipIf(noteSkip('intent constraints through a real daemon', memoryReason))('intent constraints (real daemon, namespace backend, cgroups)', () => {
  let d: TestDaemon;
  const intent = (body: Record<string, unknown>): Promise<Answer> => d.call('POST', '/v1/intents', { body: { capability: 'shell.exec.v1', ...body } });
  const sh = (command: string) => ({ command, timeout_ms: 60_000 });

  beforeAll(async () => {
    // A warm pool of sandboxes with the profile's limits (workstation: no memory limit).
    d = await startTestDaemon({ pool: { enabled: true, min_warm: 1, max_warm: 1 } });
    await waitFor('the pool to fill', () => d.daemon.manager.stats().poolSize === 1);
  }, 30_000);

  afterAll(async () => {
    await d?.close();
  });

  test('max_memory_bytes 64 MiB: a new sandbox (not a pooled one) with that limit; allocating 256 MiB ends in the OOM killer, reported', async () => {
    const hits = d.daemon.manager.stats().poolHits;
    const r = await intent({ params: ALLOC_256M, constraints: { max_memory_bytes: 64 * MiB } });
    expect(r.body.code).toBe('RESOURCE_LIMITED');
    expect(r.body.status).toBe('error');
    expect(r.body.result.output.resource_limited).toBe(true);
    expect(r.body.result.signal).toBe('SIGKILL');
    expect(r.body.result.stdout).toBe('');
    expect(r.body.result.resource_usage.max_memory_bytes).toBeLessThanOrEqual(64 * MiB + RSS_SLACK);
    expect(r.body.sandbox_info).toMatchObject({ reused: false, from_pool: false });
    expect(d.daemon.manager.stats().poolHits).toBe(hits);
    // The sandbox was made for the intent and is gone with it.
    expect((await d.call('GET', `/v1/sandboxes/${r.body.sandbox_info.id}`)).status).toBe(404);
  }, 60_000);

  test('the same intent without the constraint succeeds (from the pool, no memory limit)', async () => {
    const r = await intent({ params: ALLOC_256M });
    expect(r.body.code).toBe('OK');
    expect(r.body.result.exit_code).toBe(0);
    expect(r.body.result.stdout).toBe(`${256 * MiB}\n`);
    expect(r.body.result.resource_usage.max_memory_bytes).toBeGreaterThanOrEqual(256 * MiB);
    expect(r.body.result.output.resource_limited).toBe(false);
    expect(r.body.sandbox_info.from_pool).toBe(true);
  }, 60_000);

  test('a persisted sandbox made for max_memory_bytes keeps that limit as its own', async () => {
    const r = await intent({ params: sh('echo ok'), constraints: { max_memory_bytes: 80 * MiB }, sandbox_prefs: { persist: true } });
    expect(r.body.code).toBe('OK');
    const id = r.body.sandbox_info.id as string;
    try {
      const rec = d.daemon.manager.list({}).find((s) => s.id === id);
      expect((rec?.spec as { limits: { memoryBytes?: number } }).limits.memoryBytes).toBe(80 * MiB);
      // And a later intent asking for the same bound runs in it.
      const again = await intent({ params: sh('echo again'), constraints: { max_memory_bytes: 80 * MiB }, sandbox_prefs: { sandbox_id: id } });
      expect(again.body.code).toBe('OK');
      expect(again.body.result.stdout).toBe('again\n');
    } finally {
      await d.call('DELETE', `/v1/sandboxes/${id}`);
    }
  }, 60_000);

  test('an existing sandbox with the default memory limit (above the constraint) is refused (LIMIT_UNSUPPORTED, both limits in details), and nothing runs', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    expect(c.status).toBe(201);
    const id = c.body.id as string;
    try {
      const r = await intent({ params: sh('touch /workspace/ran'), constraints: { max_memory_bytes: 64 * MiB }, sandbox_prefs: { sandbox_id: id } });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('LIMIT_UNSUPPORTED');
      // Every profile limits memory by default (workstation: 4 GiB).
      expect(r.body.error.details).toEqual({ sandbox_id: id, sandbox_memory_bytes: 4 * 1024 * MiB, max_memory_bytes: 64 * MiB, limits: ['max_memory_bytes'] });
      expect(r.body.message).toContain(`has a memory limit of ${4 * 1024 * MiB} bytes`);
      const stat = await d.call('GET', `/v1/sandboxes/${id}/files/stat?path=/workspace/ran`);
      expect(stat.body.error.code).toBe('FS_ERROR');
      expect(JSON.stringify(stat.body.error)).toContain('ENOENT');
    } finally {
      await d.call('DELETE', `/v1/sandboxes/${id}`);
    }
  }, 60_000);

  test('an existing sandbox whose limit is above the constraint is refused; one at or below it runs, and its limit holds', async () => {
    const above = await d.call('POST', '/v1/sandboxes', { body: { limits: { memory_bytes: 128 * MiB } } });
    const below = await d.call('POST', '/v1/sandboxes', { body: { limits: { memory_bytes: 48 * MiB } } });
    try {
      const refused = await intent({ params: sh('echo no'), constraints: { max_memory_bytes: 64 * MiB }, sandbox_prefs: { sandbox_id: above.body.id } });
      expect(refused.body.code).toBe('LIMIT_UNSUPPORTED');
      expect(refused.body.error.details).toMatchObject({ sandbox_memory_bytes: 128 * MiB, max_memory_bytes: 64 * MiB });

      const ok = await intent({ params: sh('echo yes'), constraints: { max_memory_bytes: 64 * MiB }, sandbox_prefs: { sandbox_id: below.body.id } });
      expect(ok.body.code).toBe('OK');
      expect(ok.body.result.stdout).toBe('yes\n');
      // Under sh, the OOM-killed `tail` shows as exit status 137: still reported as the limit.
      const oom = await intent({ params: sh(ALLOC_300M_SH), constraints: { max_memory_bytes: 64 * MiB }, sandbox_prefs: { sandbox_id: below.body.id } });
      expect(oom.body.code).toBe('RESOURCE_LIMITED');
      expect(oom.body.result.exit_code).toBe(137);
      expect(oom.body.result.stderr).toContain('Killed');
      expect(oom.body.result.resource_usage.max_memory_bytes).toBeLessThanOrEqual(48 * MiB + RSS_SLACK);
    } finally {
      await d.call('DELETE', `/v1/sandboxes/${above.body.id}`);
      await d.call('DELETE', `/v1/sandboxes/${below.body.id}`);
    }
  }, 60_000);

  test('metadata.priority: 0 runs the command at nice 19, 3 at 8; 5, 10 and no priority at the sandbox normal value', async () => {
    const c = await d.call('POST', '/v1/sandboxes', { body: {} });
    const id = c.body.id as string;
    try {
      const niceAt = async (priority: number | undefined): Promise<number> => {
        const r = await intent({ params: sh(NICE_OF_SELF), sandbox_prefs: { sandbox_id: id }, ...(priority === undefined ? {} : { metadata: { priority } }) });
        expect(r.body.code).toBe('OK');
        return Number(r.body.result.stdout.trim());
      };
      const normal = await niceAt(undefined);
      expect(await niceAt(5)).toBe(normal);
      expect(await niceAt(10)).toBe(normal);
      expect(await niceAt(3)).toBe(Math.min(MAX_NICE, normal + 8));
      expect(await niceAt(0)).toBe(MAX_NICE);
      // The mapping the daemon documents, step by step.
      expect([0, 1, 2, 3, 4, 5, 6, 10].map(niceForPriority)).toEqual([19, 16, 12, 8, 4, 0, 0, 0]);
      // `nice` with no arguments agrees, and a background process started by a niced command inherits it.
      const bg = await intent({ params: sh('nice; (sleep 0.2; nice >/workspace/bg-nice) & wait'), sandbox_prefs: { sandbox_id: id }, metadata: { priority: 1 } });
      expect(Number(bg.body.result.stdout.trim())).toBe(Math.min(MAX_NICE, normal + 16));
      // REST exec carries it as ?priority= (the intent's metadata.priority underneath), streamed or not.
      const rest = await d.call('POST', `/v1/sandboxes/${id}/exec?priority=2`, { body: sh(NICE_OF_SELF) });
      expect(Number(rest.body.stdout.trim())).toBe(Math.min(MAX_NICE, normal + 12));
      const streamed = await d.call('POST', `/v1/sandboxes/${id}/exec?priority=0&stream=1`, { body: sh(NICE_OF_SELF) });
      const out = ndjson(streamed.text).filter((f) => f.type === 'stdout').map((f) => Buffer.from(f.data ?? '', 'base64'));
      expect(Buffer.concat(out).toString()).toBe(`${MAX_NICE}\n`);
      const plainRest = await d.call('POST', `/v1/sandboxes/${id}/exec?priority=10`, { body: sh(NICE_OF_SELF) });
      expect(Number(plainRest.body.stdout.trim())).toBe(normal);
      const bad = await d.call('POST', `/v1/sandboxes/${id}/exec?priority=11`, { body: sh('true') });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('INVALID_ARGUMENT');
      const file = await d.call('GET', `/v1/sandboxes/${id}/files?path=/workspace/bg-nice`);
      expect(file.status).toBe(200);
      expect(Number(file.text.trim())).toBe(Math.min(MAX_NICE, normal + 16));
    } finally {
      await d.call('DELETE', `/v1/sandboxes/${id}`);
    }
  }, 60_000);
});
