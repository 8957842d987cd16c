/**
 * A reader following a command waits once per output chunk; its signal (a terminal's
 * connection, alive for hours) must not collect one abort listener per wait.
 */
import { getEventListeners } from 'node:events';
import { describe, expect, test } from 'vitest';
import { Command } from '../../src/commands/command.js';

describe('Command.follow', () => {
  test('one abort listener on the reader\'s signal however many chunks it waits for; every chunk arrives once, in order', async () => {
    const cmd = new Command({
      id: 'cmd_test', sandboxId: 'sbx_test', tenant: 't', subject: 's', argv: ['cat'], pty: true, ringBytes: 1 << 16,
      startedAtMs: Date.now(), keepAliveOnDisconnect: true, abort: new AbortController(),
    }, false);
    const reader = new AbortController();
    const got: string[] = [];
    let most = 0;
    const done = (async () => {
      for await (const ev of cmd.follow(0, reader.signal)) {
        if (ev.type === 'output') got.push(ev.data.toString('utf8'));
        most = Math.max(most, getEventListeners(reader.signal, 'abort').length);
      }
    })();
    for (let i = 0; i < 200; i++) {
      cmd.append('pty', Buffer.from(`${i},`));
      // Let the reader catch up and wait again before the next chunk.
      await new Promise((r) => setImmediate(r));
    }
    expect(getEventListeners(reader.signal, 'abort').length).toBeLessThanOrEqual(1);
    cmd.finish('exited', { exit_code: 0, signal: null, timed_out: false, canceled: false, code: 'OK' }, Date.now());
    await done;
    expect(got.join('')).toBe(Array.from({ length: 200 }, (_, i) => `${i},`).join(''));
    expect(most).toBeLessThanOrEqual(1);
  });
});
