import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { Logger } from '../../src/util/logger.js';
import { ndjson } from '../daemon/harness.js';
import { newHome, startOnHome } from './life-helpers.js';

const isRoot = process.getuid?.() === 0;
const parent = `agentd-test-life-sp-${process.pid}`;

describe.skipIf(!isRoot)('idle sweeper and warm pool (root: real bwrap and cgroups)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  test('the idle sweeper never stops a sandbox while a command runs in it, streamed or not', async () => {
    const home = await newHome('agentd-life-idle-');
    cleanups.push(async () => rm(home, { recursive: true, force: true }));
    // Idle after 800 ms, swept every 100 ms: each command below runs well past that.
    const d = await startOnHome(home, parent, { sandbox: { idle_timeout_ms: 800 } });
    cleanups.push(() => d.stop());
    const id = (await d.call('POST', '/v1/sandboxes', { body: {} })).body.id as string;

    const plain = await d.call('POST', `/v1/sandboxes/${id}/exec`, { body: { command: 'sleep 2.5; echo finished' } });
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ exit_code: 0, stdout: 'finished\n' });
    expect((await d.call('GET', `/v1/sandboxes/${id}`)).body.state).toBe('running');

    const streamed = await d.call('POST', `/v1/sandboxes/${id}/exec?stream=true`, { body: { command: 'sleep 2.5; echo streamed' } });
    const frames = ndjson(streamed.text);
    expect(frames.filter((f) => f.type === 'stdout').map((f) => Buffer.from(f.data ?? '', 'base64').toString()).join('')).toBe('streamed\n');
    expect(frames.at(-1)).toMatchObject({ type: 'exit', exit_code: 0 });

    // Idle counts from the end of the last command: the sandbox is stopped once really idle.
    let state = 'running';
    for (let i = 0; i < 60 && state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = (await d.call('GET', `/v1/sandboxes/${id}`)).body.state as string;
    }
    expect(state).toBe('stopped');
  }, 30_000);

  test('a failing warm-pool start leaves no folders behind and backs off (1 s, 2 s, ...), one warning per step', async () => {
    const home = await newHome('agentd-life-pool-');
    cleanups.push(async () => rm(home, { recursive: true, force: true }));
    const warnings: Array<Record<string, unknown>> = [];
    // The sandbox folders as each failed start is reported (the pool warns after the start removed
    // them, and the next try is a backoff away): a leak of any try shows here, with no start in flight.
    const foldersAtWarning: string[][] = [];
    const logger: Logger = {
      debug() {}, info() {}, error() {},
      warn(obj, msg) {
        if (typeof obj !== 'object' || !msg?.startsWith('warm pool')) return;
        warnings.push(obj as Record<string, unknown>);
        foldersAtWarning.push(existsSync(join(home, 'sandboxes')) ? readdirSync(join(home, 'sandboxes')) : []);
      },
    };
    // An RLIMIT_NOFILE above this host's hard limit (20000 without CAP_SYS_RESOURCE): every start fails after its folders were made.
    const d = await startOnHome(home, parent, { pool: { enabled: true, min_warm: 1, max_warm: 1 }, sandbox: { limits: { open_files: 1 << 20 } } }, { logger });
    cleanups.push(() => d.stop());
    await new Promise((r) => setTimeout(r, 3500));
    // With a sweep every 100 ms, the old code tried 3 starts per sweep and left every folder.
    // (Read at each warning, not at 3.5 s: on a busy host the third try may be under way then, its folder not yet removed.)
    expect(foldersAtWarning).toEqual(warnings.map(() => []));
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings.length).toBeLessThanOrEqual(3);
    expect(warnings.map((w) => w.next_try_in_ms)).toEqual([1000, 2000, 4000].slice(0, warnings.length));
  }, 30_000);
});
