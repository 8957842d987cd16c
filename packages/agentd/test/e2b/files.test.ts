import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, FileNotFoundError, InvalidArgumentError, Sandbox } from 'e2b';
import { startE2bDaemon, type E2bTestDaemon } from './harness.js';

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A raw request to the daemon with the headers given (Host too): what a client that routes by Host sends. */
function raw(url: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; text: string; bytes: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), bytes: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

/** The in-sandbox HTTP file routes with the real `e2b` SDK (files.read/write/writeFiles) against a real daemon. */
describe('E2B files over HTTP (stock e2b SDK)', () => {
  let e: E2bTestDaemon;
  let sbx: Sandbox;
  beforeAll(async () => {
    e = await startE2bDaemon();
    sbx = await Sandbox.create(e.opts);
  });
  afterAll(async () => {
    await sbx?.kill().catch(() => undefined);
    await e?.close();
  });

  it('write and read text, bytes, blob and stream; relative paths are under the home', async () => {
    const info = await sbx.files.write('/tmp/hello.txt', 'hello e2b');
    expect(info).toMatchObject({ name: 'hello.txt', path: '/tmp/hello.txt', type: 'file' });
    expect(await sbx.files.read('/tmp/hello.txt')).toBe('hello e2b');
    const bin = randomBytes(1000);
    await sbx.files.write('/tmp/bin', bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length));
    expect(Buffer.from(await sbx.files.read('/tmp/bin', { format: 'bytes' })).equals(bin)).toBe(true);
    expect(Buffer.from(await (await sbx.files.read('/tmp/bin', { format: 'blob' })).arrayBuffer()).equals(bin)).toBe(true);
    const stream = await sbx.files.read('/tmp/bin', { format: 'stream' });
    const parts: Uint8Array[] = [];
    for await (const c of stream as unknown as AsyncIterable<Uint8Array>) parts.push(c);
    expect(Buffer.concat(parts).equals(bin)).toBe(true);
    const rel = await sbx.files.write('notes/a.txt', 'relative');
    expect(rel.path).toBe('/home/agent/notes/a.txt');
    expect(await sbx.files.read('notes/a.txt')).toBe('relative');
    await sbx.files.write('/tmp/empty', '');
    expect(await sbx.files.read('/tmp/empty')).toBe('');
  });

  it('writeFiles: several files in one multipart upload, directories created', async () => {
    const out = await sbx.files.write([
      { path: '/tmp/multi/a.txt', data: 'A' },
      { path: '/tmp/multi/deep/b.txt', data: 'B' },
      { path: '/tmp/multi/c.bin', data: new Uint8Array([0, 1, 2, 255]).buffer },
    ]);
    expect(out.map((f) => f.path)).toEqual(['/tmp/multi/a.txt', '/tmp/multi/deep/b.txt', '/tmp/multi/c.bin']);
    expect(await sbx.files.read('/tmp/multi/a.txt')).toBe('A');
    expect(await sbx.files.read('/tmp/multi/deep/b.txt')).toBe('B');
    expect([...(await sbx.files.read('/tmp/multi/c.bin', { format: 'bytes' }))]).toEqual([0, 1, 2, 255]);
  });

  it('a large file (larger than the daemon body limit) goes up and down in pieces, multipart and octet-stream', async () => {
    const big = randomBytes(40 * 1024 * 1024);
    await sbx.files.write('/tmp/big.bin', new Blob([big]));
    const back = await sbx.files.read('/tmp/big.bin', { format: 'bytes' });
    expect(back.length).toBe(big.length);
    expect(sha(back)).toBe(sha(big));
    // A stream body: the SDK sends application/octet-stream (envd >= 0.5.7).
    const stream = Readable.toWeb(Readable.from([big.subarray(0, 9 << 20), big.subarray(9 << 20)])) as ReadableStream<Uint8Array>;
    await sbx.files.write('/tmp/big2.bin', stream);
    expect(sha(await sbx.files.read('/tmp/big2.bin', { format: 'bytes' }))).toBe(sha(big));
    // No temporary upload names are left behind.
    const left = await raw(e.sandboxUrl, 'GET', '/files?path=/tmp/.big.bin.e2b-upload-x', { 'e2b-sandbox-id': sbx.sandboxId, 'x-access-token': accessToken(sbx) });
    expect(left.status).toBe(404);
  }, 120_000);

  it('errors: a missing file is FileNotFoundError, a user agentd does not have is InvalidArgumentError', async () => {
    await expect(sbx.files.read('/tmp/nope/none')).rejects.toBeInstanceOf(FileNotFoundError);
    await expect(sbx.files.read('/tmp/hello.txt', { user: 'root' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(sbx.files.write('/tmp/x', 'x', { user: 'nobody' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('gzip uploads are inflated (a malformed one is a clear 400); an envd route agentd does not serve answers 501', async () => {
    await sbx.files.write('/tmp/gz.txt', 'zipped', { gzip: true });
    expect(await sbx.files.read('/tmp/gz.txt')).toBe('zipped');
    const many = randomBytes(6 << 20);
    await sbx.files.write('/tmp/gz.bin', new Blob([many]), { gzip: true });
    expect(sha(await sbx.files.read('/tmp/gz.bin', { format: 'bytes' }))).toBe(sha(many));
    const bad = await raw(e.sandboxUrl, 'POST', '/files?path=/tmp/badgz', { 'e2b-sandbox-id': sbx.sandboxId, 'x-access-token': accessToken(sbx), 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' }, Buffer.from('not gzip at all'));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).message).toContain('gzip');
    const br = await raw(e.sandboxUrl, 'POST', '/files?path=/tmp/br', { 'e2b-sandbox-id': sbx.sandboxId, 'x-access-token': accessToken(sbx), 'content-type': 'application/octet-stream', 'content-encoding': 'br' }, Buffer.from('x'));
    expect(br.status).toBe(400);
    const r = await raw(e.sandboxUrl, 'GET', '/envs', { 'e2b-sandbox-id': sbx.sandboxId, 'x-access-token': accessToken(sbx) });
    expect(r.status).toBe(501);
    // The Connect services answer `unimplemented` until they are served (never a hang).
    const rpc = await raw(e.sandboxUrl, 'POST', '/filesystem.Filesystem/NoSuchMethod', { 'e2b-sandbox-id': sbx.sandboxId, 'x-access-token': accessToken(sbx), 'content-type': 'application/json' }, Buffer.from('{}'));
    expect([501, 404]).toContain(rpc.status);
    expect(JSON.parse(rpc.text)).toHaveProperty('code');
  });

  it('paths are the sandbox\'s: .. and absolute paths never reach the host (single and multipart names)', async () => {
    const name = `e2b-escape-${randomBytes(6).toString('hex')}`;
    await sbx.files.write(`/../../../../../../tmp/${name}`, 'x');
    await sbx.files.write([{ path: `../../../../../../../tmp/${name}-m`, data: 'y' }]);
    expect(existsSync(`/tmp/${name}`)).toBe(false);
    expect(existsSync(`/tmp/${name}-m`)).toBe(false);
    // Inside, the path is clamped to the sandbox's root: the file is the sandbox's /tmp/<name>.
    expect(await sbx.files.read(`/tmp/${name}`)).toBe('x');
  });

  it('an upload without a valid token is refused on its headers, before its body is read', async () => {
    const port = Number(new URL(e.sandboxUrl).port);
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (buf.includes('\r\n\r\n')) {
          s.destroy();
          resolve(buf);
        }
      });
      s.on('error', reject);
      // A 1 GiB body is announced and never sent: the answer must come without it.
      s.write(`POST /files?path=/tmp/huge HTTP/1.1\r\nHost: x\r\nE2b-Sandbox-Id: ${sbx.sandboxId}\r\nX-Access-Token: ${'0'.repeat(64)}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1073741824\r\n\r\n`);
    });
    expect(answer).toMatch(/^HTTP\/1.1 401/);
    expect(answer.toLowerCase()).toContain('connection: close');
  });

  it('in-sandbox auth: no token or a wrong one is 401 (AuthenticationError), another sandbox\'s token does not open this one', async () => {
    const other = await Sandbox.create(e.opts);
    const noTok = await raw(e.sandboxUrl, 'GET', '/files?path=/tmp/hello.txt', { 'e2b-sandbox-id': sbx.sandboxId });
    expect(noTok.status).toBe(401);
    expect(JSON.parse(noTok.text)).toMatchObject({ code: 401 });
    const wrong = await raw(e.sandboxUrl, 'GET', '/files?path=/tmp/hello.txt', { 'e2b-sandbox-id': sbx.sandboxId, 'x-access-token': accessToken(other) });
    expect(wrong.status).toBe(401);
    // The stock client of this sandbox holding the other sandbox's token.
    const fakeClient: Sandbox = new Sandbox({ ...e.opts, sandboxId: sbx.sandboxId, envdAccessToken: accessToken(other), envdVersion: '0.5.7' });
    await expect(fakeClient.files.read('/tmp/hello.txt')).rejects.toBeInstanceOf(AuthenticationError);
    // An unknown sandbox id: 502, as E2B answers for a sandbox that is not running.
    const unknown = await raw(e.sandboxUrl, 'GET', '/health', { 'e2b-sandbox-id': 'sbx_unknownunknown00', 'x-access-token': accessToken(sbx) });
    expect(unknown.status).toBe(502);
    await other.kill();
  });

  it('Host routing `<port>-<id>.<domain>` and presigned download/upload URLs (signature of the access token)', async () => {
    const host = `49983-${sbx.sandboxId}.agentd.localhost`;
    const h = await raw(e.sandboxUrl, 'GET', '/health', { host, 'x-access-token': accessToken(sbx) });
    expect(h.status).toBe(204);
    const url = new URL(await sbx.downloadUrl('/tmp/hello.txt'));
    expect(url.searchParams.get('signature')).toMatch(/^v1_/);
    const dl = await raw(e.sandboxUrl, 'GET', `${url.pathname}${url.search}`, { host });
    expect(dl.status).toBe(200);
    expect(dl.text).toBe('hello e2b');
    // The signature is bound to the path and the operation.
    const other = new URL(url);
    other.searchParams.set('path', '/tmp/bin');
    expect((await raw(e.sandboxUrl, 'GET', `${other.pathname}${other.search}`, { host })).status).toBe(401);
    const up = new URL(await sbx.uploadUrl('/tmp/up.txt', { useSignatureExpiration: 60 }));
    const boundary = 'xBOUNDARYx';
    const body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="up.txt"\r\nContent-Type: application/octet-stream\r\n\r\nuploaded\r\n--${boundary}--\r\n`);
    const u = await raw(e.sandboxUrl, 'POST', `${up.pathname}${up.search}`, { host, 'content-type': `multipart/form-data; boundary=${boundary}` }, body);
    expect(u.status).toBe(200);
    expect(await sbx.files.read('/tmp/up.txt')).toBe('uploaded');
    const wrongOp = await raw(e.sandboxUrl, 'GET', `${up.pathname}${up.search}`, { host });
    expect(wrongOp.status).toBe(401);
  });

  it('every file operation is an agentd intent in the audit log, with the key\'s subject', async () => {
    await sbx.files.write('/tmp/audited.txt', 'a');
    const audit = await e.d.call('GET', '/v1/audit?limit=500');
    const events = audit.body.events as Array<{ action: string; capability?: string; subject: string; sandbox_id: string; details: { provider?: string } }>;
    const ev = events.find((x) => x.action === 'intent' && x.capability === 'fs.rename.v1' && x.sandbox_id === sbx.sandboxId);
    expect(ev?.details.provider).toBe('e2b-access-token');
    expect(ev?.subject).toBe('alice');
  });
});

function accessToken(s: Sandbox): string {
  return (s as unknown as { envdAccessToken: string }).envdAccessToken;
}
