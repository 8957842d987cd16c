import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import type { CliIo } from '../../src/cli/client/io.js';
import { withProgress } from '../../src/cli/client/spinner.js';
import { clientOptions } from '../../src/cli/client/connection.js';
import { exitCodeOf } from '../../src/cli/client/exec.js';
import { formatTable } from '../../src/cli/client/output.js';
import { collectKeyValue, parseRemote, parseSeconds, parseSize } from '../../src/cli/client/parse.js';

const result = (exitCode: number | null, signal: string | null, timedOut = false) => ({ exitCode, signal, timedOut });

describe('exec exit codes', () => {
  test('passes the exit code through, 128+N for signal N, 124 for a timeout', () => {
    expect(exitCodeOf(result(0, null))).toBe(0);
    expect(exitCodeOf(result(42, null))).toBe(42);
    expect(exitCodeOf(result(null, 'SIGKILL'))).toBe(137);
    expect(exitCodeOf(result(null, 'SIGTERM'))).toBe(143);
    expect(exitCodeOf(result(null, 'SIGKILL', true))).toBe(124);
  });
});

describe('argument parsing', () => {
  test('ID:/path is remote; paths with a slash before the colon and plain paths are local', () => {
    expect(parseRemote('sbx_abc:/workspace/a.txt')).toEqual({ sandboxId: 'sbx_abc', path: '/workspace/a.txt' });
    expect(parseRemote('sbx_abc:')).toEqual({ sandboxId: 'sbx_abc', path: '.' });
    expect(parseRemote('./a:b')).toBeUndefined();
    expect(parseRemote('/tmp/x')).toBeUndefined();
  });

  test('K=V, seconds and sizes', () => {
    expect(collectKeyValue('A=b=c', { X: '1' })).toEqual({ X: '1', A: 'b=c' });
    expect(() => collectKeyValue('=v')).toThrow('KEY=VALUE');
    expect(parseSeconds('1.5')).toBe(1500);
    expect(() => parseSeconds('0')).toThrow();
    expect([parseSize('512m'), parseSize('2g'), parseSize('1024'), parseSize('64MiB')]).toEqual([512 * 2 ** 20, 2 * 2 ** 30, 1024, 64 * 2 ** 20]);
    expect(() => parseSize('lots')).toThrow();
  });
});

describe('connection flags', () => {
  test('a flag beats the environment; a socket beats a URL at the same level', () => {
    const localTokenFile = expect.stringMatching(/\/agentd\.token$/);
    expect(clientOptions({}, {})).toEqual({ baseUrl: 'http://127.0.0.1:7070', localTokenFile });
    expect(clientOptions({}, { AGENTD_URL: 'http://h:1', AGENTD_API_KEY: 'k' })).toEqual({ baseUrl: 'http://h:1', apiKey: 'k' });
    expect(clientOptions({ url: 'http://f:2' }, { AGENTD_SOCKET: '/s' })).toEqual({ baseUrl: 'http://f:2', localTokenFile });
    expect(clientOptions({ apiKey: 'flag' }, { AGENTD_API_KEY: 'env' }).apiKey).toBe('flag');
    const viaSocket = clientOptions({}, { AGENTD_SOCKET: '/run/agentd.sock', AGENTD_URL: 'http://h:1' });
    expect(viaSocket.baseUrl).toBe('http://localhost');
    expect(typeof viaSocket.fetch).toBe('function');
  });

  test('credentials: an API key or a signing key; a flag of either kind beats both variables; both at one level is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-units-'));
    try {
      const keyFile = join(dir, 'k.key');
      writeFileSync(keyFile, 'PEM TEXT', { mode: 0o600 });
      const env = { AGENTD_API_KEY: 'env-key', AGENTD_SIGN_KEY: keyFile, AGENTD_SIGN_KEY_ID: 'env-id' };
      expect(clientOptions({ apiKey: 'flag' }, env)).toEqual({ baseUrl: 'http://127.0.0.1:7070', apiKey: 'flag' });
      expect(clientOptions({ signKey: keyFile, keyId: 'flag-id' }, env)).toEqual({ baseUrl: 'http://127.0.0.1:7070', signing: { keyId: 'flag-id', privateKey: 'PEM TEXT' } });
      expect(clientOptions({}, { AGENTD_SIGN_KEY: keyFile, AGENTD_SIGN_KEY_ID: 'env-id' }).signing).toEqual({ keyId: 'env-id', privateKey: 'PEM TEXT' });
      expect(() => clientOptions({}, env)).toThrow(/both set/);
      expect(() => clientOptions({ apiKey: 'a', signKey: keyFile }, {})).toThrow(/not both/);
      expect(() => clientOptions({ keyId: 'x' }, {})).toThrow(/--key-id names the key of --sign-key/);
      expect(() => clientOptions({ signKey: join(dir, 'missing.key'), keyId: 'x' }, {})).toThrow(/cannot read the signing key .*ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tables', () => {
  test('aligns columns by the widest cell', () => {
    expect(formatTable(['ID', 'STATE'], [['sbx_1', 'running'], ['s', 'stopped']])).toBe('ID     STATE\nsbx_1  running\ns      stopped\n');
  });
});

describe('progress spinner', () => {
  const fakeIo = (tty: boolean) => {
    const writes: string[] = [];
    const stderr = Object.assign(new PassThrough(), tty ? { isTTY: true } : {});
    stderr.on('data', (c: Buffer) => writes.push(c.toString()));
    const io = { stderr } as unknown as CliIo;
    return { io, writes };
  };
  const slow = (ms: number) => () => new Promise<string>((r) => setTimeout(() => r('done'), ms));

  test('shows on a TTY once the operation outlasts the delay, and clears its line at the end', async () => {
    const { io, writes } = fakeIo(true);
    expect(await withProgress(io, 'creating sandbox', slow(300), { delayMs: 50 })).toBe('done');
    await new Promise((r) => setImmediate(r));
    expect(writes.some((w) => w.includes('creating sandbox'))).toBe(true);
    expect(writes.at(-1)).toBe('\r\x1b[2K');
  });

  test('stays silent for a fast operation, and always when stderr is not a TTY', async () => {
    const fast = fakeIo(true);
    await withProgress(fast.io, 'x', slow(5), { delayMs: 200 });
    const piped = fakeIo(false);
    await withProgress(piped.io, 'x', slow(100), { delayMs: 10 });
    await new Promise((r) => setImmediate(r));
    expect([fast.writes, piped.writes]).toEqual([[], []]);
  });
});
