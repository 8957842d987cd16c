/**
 * files.write / readBytes / readStream of any size against a real daemon: 100 MiB up and
 * down byte-exact (sha256 on both sides), every accepted content type, piecewise replace
 * through a temporary name (a failed upload leaves the old file and no half file), append.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentdClient, Sandbox } from '../src/index.js';
import { e2eSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const skipReason = e2eSkipReason();
const MiB = 1024 * 1024;

const BASE = randomBytes(MiB);

/** `total` bytes in 1 MiB parts: one random MiB, each copy stamped with its index (so a lost, doubled or swapped part changes the hash). */
function* patternParts(total: number): Generator<Buffer> {
  for (let at = 0, i = 0; at < total; i++) {
    const part = Buffer.from(BASE.subarray(0, Math.min(MiB, total - at)));
    if (part.length >= 8) part.writeBigUInt64LE(BigInt(i), 0);
    at += part.length;
    yield part;
  }
}

function sha256(parts: Iterable<Uint8Array>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

describe.skipIf(skipReason !== undefined)('files: large and streamed transfers', () => {
  let d: TestDaemon;
  let sbx: Sandbox;

  beforeAll(async () => {
    d = await startTestDaemon();
    sbx = await Sandbox.create({ client: new AgentdClient({ baseUrl: d.url, apiKey: d.adminKey }) });
  }, 60_000);

  afterAll(async () => {
    await sbx?.destroy().catch(() => undefined);
    await d?.close();
  }, 60_000);

  test('100 MiB up from a Node Readable and down by readStream and readBytes, byte-exact', async () => {
    const size = 100 * MiB;
    const want = sha256(patternParts(size));
    const r = await sbx.files.write('/workspace/big.bin', Readable.from(patternParts(size)));
    expect(r).toEqual({ bytesWritten: size, fileSize: size });
    const inside = await sbx.exec(['sha256sum', '/workspace/big.bin']);
    expect(inside.stdout.split(' ')[0]).toBe(want);

    const h = createHash('sha256');
    let got = 0;
    const reader = sbx.files.readStream('/workspace/big.bin').getReader();
    for (let next = await reader.read(); next.done !== true; next = await reader.read()) {
      h.update(next.value);
      got += next.value.length;
    }
    expect(got).toBe(size);
    expect(h.digest('hex')).toBe(want);

    const all = await sbx.files.readBytes('/workspace/big.bin');
    expect(all.length).toBe(size);
    expect(sha256([all])).toBe(want);
    // No temporary file is left beside it.
    expect((await sbx.files.list('/workspace')).map((e) => e.name)).toEqual(['big.bin']);
    await sbx.files.remove('/workspace/big.bin');
  }, 240_000);

  test('every content type, cut into pieces: string, Uint8Array, ArrayBuffer, Blob, ReadableStream, async iterable', async () => {
    const bytes = randomBytes(5000);
    const text = 'é'.repeat(1500); // 3000 bytes of UTF-8, a character cut between pieces
    const cases: Array<[string, Parameters<typeof sbx.files.write>[1], Uint8Array]> = [
      ['string', text, Buffer.from(text)],
      ['uint8array', bytes, bytes],
      ['arraybuffer', bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), bytes],
      ['blob', new Blob([bytes.subarray(0, 10), bytes.subarray(10)]), bytes],
      ['webstream', Readable.toWeb(Readable.from([bytes.subarray(0, 1), bytes.subarray(1, 2500), bytes.subarray(2500)])) as ReadableStream<Uint8Array>, bytes],
      ['iterable', (async function* () { yield 'ab'; yield bytes.subarray(0, 1999); })(), Buffer.concat([Buffer.from('ab'), bytes.subarray(0, 1999)])],
      ['empty-stream', Readable.from([]), new Uint8Array(0)],
    ];
    for (const [name, content, expected] of cases) {
      const r = await sbx.files.write(`/workspace/t/${name}`, content, { chunkSize: 1024, createDirs: true });
      expect({ name, r }).toEqual({ name, r: { bytesWritten: expected.length, fileSize: expected.length } });
      const back = await sbx.files.readBytes(`/workspace/t/${name}`, { chunkSize: 700 });
      expect({ name, same: Buffer.from(back).equals(Buffer.from(expected)) }).toEqual({ name, same: true });
    }
    expect((await sbx.files.list('/workspace/t')).map((e) => e.name).sort()).toEqual(cases.map(([n]) => n).sort());
    // A range read of a large span is cut into pieces too.
    expect(Buffer.from(await sbx.files.readBytes('/workspace/t/uint8array', { offset: 100, limit: 3000, chunkSize: 512 })).equals(bytes.subarray(100, 3100))).toBe(true);
  });

  test('a piecewise replace keeps the old bits; append adds piece by piece', async () => {
    await sbx.files.write('/workspace/run.sh', '#!/bin/sh\necho old\n', { mode: 0o755 });
    await sbx.files.write('/workspace/run.sh', `#!/bin/sh\necho ${'new'.repeat(1000)}\n`, { chunkSize: 512 });
    expect((await sbx.files.stat('/workspace/run.sh')).mode & 0o777).toBe(0o755);
    expect((await sbx.exec(['/workspace/run.sh'])).stdout).toBe(`${'new'.repeat(1000)}\n`);

    await sbx.files.write('/workspace/log', 'start\n');
    const r = await sbx.files.write('/workspace/log', 'x'.repeat(3000), { append: true, chunkSize: 1000 });
    expect(r).toEqual({ bytesWritten: 3000, fileSize: 3006 });
    expect(await sbx.files.read('/workspace/log')).toBe(`start\n${'x'.repeat(3000)}`);
  });

  test('a failed upload leaves the old file whole and no temporary file', async () => {
    await sbx.files.mkdir('/workspace/atomic');
    await sbx.files.write('/workspace/atomic/data', 'old content');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(3000).fill(1);
      throw new Error('the source broke');
    }
    await expect(sbx.files.write('/workspace/atomic/data', failing(), { chunkSize: 1000 })).rejects.toThrow('the source broke');
    expect(await sbx.files.read('/workspace/atomic/data')).toBe('old content');
    expect((await sbx.files.list('/workspace/atomic')).map((e) => e.name)).toEqual(['data']);

    // Aborted part way: the same.
    const ac = new AbortController();
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(2000).fill(2);
      ac.abort();
      yield new Uint8Array(2000).fill(3);
    }
    await expect(sbx.files.write('/workspace/atomic/data', slow(), { chunkSize: 1000, signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(await sbx.files.read('/workspace/atomic/data')).toBe('old content');
    expect((await sbx.files.list('/workspace/atomic')).map((e) => e.name)).toEqual(['data']);
  });

  test('rename: atomic, refuses to replace without overwrite', async () => {
    await sbx.files.write('/workspace/a', 'A');
    await sbx.files.write('/workspace/b', 'B');
    await expect(sbx.files.rename('/workspace/a', '/workspace/b')).rejects.toMatchObject({ code: 'FS_ERROR', details: { errno: 'EEXIST' } });
    await sbx.files.rename('/workspace/a', '/workspace/b', { overwrite: true });
    expect(await sbx.files.read('/workspace/b')).toBe('A');
    expect(await sbx.files.exists('/workspace/a')).toBe(false);
  });
});

describe.skipIf(skipReason !== undefined)('files.write against a daemon with a small body limit', () => {
  let d: TestDaemon;
  let sbx: Sandbox;

  beforeAll(async () => {
    d = await startTestDaemon({ bodyLimitBytes: 300_000 });
    sbx = await Sandbox.create({ client: new AgentdClient({ baseUrl: d.url, apiKey: d.adminKey }) });
  }, 60_000);

  afterAll(async () => {
    await sbx?.destroy().catch(() => undefined);
    await d?.close();
  }, 60_000);

  test('a piece refused as too large is halved until it fits; the daemon says how to send large files', async () => {
    const data = randomBytes(MiB + 3);
    expect(await sbx.files.write('/workspace/one-piece', data)).toEqual({ bytesWritten: data.length, fileSize: data.length });
    expect(Buffer.from(await sbx.files.readBytes('/workspace/one-piece')).equals(data)).toBe(true);
    expect(await sbx.files.write('/workspace/pieces', Readable.from([data, data]), { chunkSize: 600_000 })).toEqual({ bytesWritten: 2 * data.length, fileSize: 2 * data.length });
    expect(sha256([await sbx.files.readBytes('/workspace/pieces')])).toBe(sha256([data, data]));

    const raw = await fetch(`${d.url}/v1/sandboxes/${sbx.id}/files?path=/workspace/raw`, {
      method: 'PUT', body: data, headers: { authorization: `Bearer ${d.adminKey}`, 'content-type': 'application/octet-stream' },
    });
    expect(raw.status).toBe(413);
    const body = (await raw.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
    expect(body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { reason: 'body_limit' } });
    expect(body.error.message).toMatch(/append=true/);
  });
});
