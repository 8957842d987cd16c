import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import Busboy from 'busboy';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/types.js';
import { AgentdError } from '../../core/errors.js';
import { errorOfResponse } from '../http/errors.js';
import type { HttpServices } from '../http/services.js';
import type { EnvdCaller } from './envd/types.js';

/** Bytes per fs.read/fs.write intent: a large file moves piece by piece, never whole in memory. */
export const PIECE_BYTES = 4 * 1024 * 1024;
/** Most files in one multipart upload. */
const MAX_PARTS = 1000;

/** The users a file route may name: E2B's default `user` is agentd's `agent` (files are written by the sandbox's init). */
function checkUser(user: string | undefined): void {
  if (user === undefined || user === '' || user === 'user' || user === 'agent') return;
  throw new AgentdError('INVALID_ARGUMENT', `username '${user}': agentd's file routes read and write as the sandbox's own user (user/agent); use commands.run with user 'root' for root-owned files`, { details: { field: 'username' } });
}

async function fsIntent(svc: HttpServices, p: Principal, sandboxId: string, capability: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> {
  const resp = await svc.pipeline.execute(p, { capability, params, sandbox_prefs: { sandbox_id: sandboxId } }, { signal });
  if (resp.status !== 'ok' || !resp.result) throw errorOfResponse(resp.error ?? { code: 'INTERNAL', message: 'no result', details: {}, retryable: false });
  return (resp.result.output ?? {}) as Record<string, unknown>;
}

/** envd's HTTP status for an agentd error of a file route (the SDK maps 404 to FileNotFoundError, 507 to NotEnoughSpaceError). */
export function fileErrorStatus(err: AgentdError): number {
  const errno = (err.details as { errno?: unknown } | undefined)?.errno;
  if (err.code === 'FS_ERROR') {
    if (errno === 'ENOENT') return 404;
    if (errno === 'ENOSPC' || errno === 'EDQUOT') return 507;
    if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS') return 403;
    return 400;
  }
  return err.httpStatus === 499 || err.httpStatus === 200 ? 400 : err.httpStatus;
}

/** Reads a stream into pieces of PIECE_BYTES and writes them to `path` in the sandbox: a temporary name, renamed at the end. */
async function writeStream(svc: HttpServices, caller: EnvdCaller, path: string, data: Readable, signal: AbortSignal): Promise<void> {
  const p = caller.principal;
  const id = caller.sandboxId;
  const dir = posix.dirname(path);
  const tmp = posix.join(dir, `.${posix.basename(path)}.e2b-upload-${randomBytes(6).toString('hex')}`);
  let first = true;
  let buf: Buffer[] = [];
  let size = 0;
  const flush = async (): Promise<void> => {
    const piece = Buffer.concat(buf);
    buf = [];
    size = 0;
    await fsIntent(svc, p, id, 'fs.write.v1', { path: tmp, content: piece.toString('base64'), encoding: 'base64', create_dirs: first, append: !first }, signal);
    first = false;
  };
  try {
    for await (const chunk of data) {
      const c = chunk as Buffer;
      buf.push(c);
      size += c.length;
      if (size >= PIECE_BYTES) await flush();
    }
    if (size > 0 || first) await flush();
    await fsIntent(svc, p, id, 'fs.rename.v1', { from: tmp, to: path, overwrite: true }, signal);
  } catch (err) {
    data.resume();
    await fsIntent(svc, p, id, 'fs.remove.v1', { path: tmp }, signal).catch(() => undefined);
    throw err;
  }
}

function entry(path: string): { name: string; type: 'file'; path: string } {
  return { name: posix.basename(path), type: 'file', path };
}

/** A path of the SDK: absolute, or relative to the user's home (E2B's rule); agentd's sandbox home is /home/agent. */
function sandboxPath(path: string): string {
  if (path.includes('\0')) throw new AgentdError('INVALID_ARGUMENT', 'path contains a NUL byte', { details: { field: 'path' } });
  return path.startsWith('/') ? path : posix.join('/home/agent', path);
}

/** `POST /files`: multipart (one or many files: each part's filename is its path unless `path` names it) or a raw octet-stream body. */
export async function uploadFiles(svc: HttpServices, caller: EnvdCaller, req: FastifyRequest, query: { path?: string; username?: string }, signal: AbortSignal): Promise<Array<ReturnType<typeof entry>>> {
  checkUser(query.username ?? caller.user);
  const type = String(req.headers['content-type'] ?? '');
  const body = req.body as Readable | undefined;
  if (body === undefined || typeof (body as { pipe?: unknown }).pipe !== 'function') throw new AgentdError('INTERNAL', 'the upload body was read before the route');
  if (!type.startsWith('multipart/form-data')) {
    if (query.path === undefined || query.path === '') throw new AgentdError('INVALID_ARGUMENT', 'an octet-stream upload needs the path query parameter', { details: { field: 'path' } });
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') {
      throw new AgentdError('INVALID_ARGUMENT', `Content-Encoding '${encoding}' is not supported on uploads (gzip or none)`, { details: { field: 'content-encoding' } });
    }
    const path = sandboxPath(query.path);
    // The SDK's gzip: true. What it inflates to is bounded by the sandbox (its disk), as any upload is.
    const data = encoding === 'gzip' ? body.pipe(createGunzip()) : body;
    body.on('error', (err) => data.destroy(err));
    try {
      await writeStream(svc, caller, path, data, signal);
    } catch (err) {
      if ((err as { code?: string }).code === 'Z_DATA_ERROR' || (err as { code?: string }).code === 'Z_BUF_ERROR') throw new AgentdError('INVALID_ARGUMENT', `the gzip body is malformed: ${(err as Error).message}`, { details: { field: 'body' } });
      throw err;
    }
    return [entry(path)];
  }
  const bb = Busboy({ headers: req.headers, preservePath: true, limits: { files: MAX_PARTS, fields: 100, fieldSize: 64 * 1024 } });
  const written: Array<ReturnType<typeof entry>> = [];
  let chain: Promise<void> = Promise.resolve();
  let failed: Error | undefined;
  const done = new Promise<void>((resolve, reject) => {
    bb.on('file', (_name, stream, info) => {
      const target = query.path !== undefined && query.path !== '' ? query.path : info.filename;
      chain = chain.then(async () => {
        if (failed !== undefined) return void stream.resume();
        if (target === undefined || target === '') throw new AgentdError('INVALID_ARGUMENT', 'a multipart file needs a filename (its path) or the path query parameter', { details: { field: 'path' } });
        const path = sandboxPath(target);
        await writeStream(svc, caller, path, stream, signal);
        written.push(entry(path));
      }).catch((err: unknown) => {
        failed ??= err instanceof Error ? err : new AgentdError('INTERNAL', String(err));
        stream.resume();
      });
    });
    bb.on('filesLimit', () => { failed ??= new AgentdError('PAYLOAD_TOO_LARGE', `more than ${MAX_PARTS} files in one upload`); });
    bb.on('error', (err) => reject(new AgentdError('INVALID_ARGUMENT', `malformed multipart body: ${(err as Error).message}`)));
    bb.on('close', () => resolve());
  });
  body.pipe(bb);
  await done;
  await chain;
  if (failed !== undefined) throw failed;
  if (written.length === 0) throw new AgentdError('INVALID_ARGUMENT', 'the multipart body has no file part', { details: { field: 'file' } });
  return written;
}

/** `GET /files`: the file's bytes, streamed piece by piece (Content-Length when it fits one piece). */
export async function downloadFile(svc: HttpServices, caller: EnvdCaller, reply: FastifyReply, query: { path?: string; username?: string }, signal: AbortSignal): Promise<void> {
  checkUser(query.username ?? caller.user);
  if (query.path === undefined || query.path === '') throw new AgentdError('INVALID_ARGUMENT', 'the path query parameter is required', { details: { field: 'path' } });
  const path = sandboxPath(query.path);
  const read = async (offset: number): Promise<{ data: Buffer; eof: boolean }> => {
    const out = await fsIntent(svc, caller.principal, caller.sandboxId, 'fs.read.v1', { path, offset, limit: PIECE_BYTES, encoding: 'base64' }, signal);
    return { data: Buffer.from(typeof out.content === 'string' ? out.content : '', 'base64'), eof: out.eof === true };
  };
  const first = await read(0);
  const raw = reply.raw;
  const name = posix.basename(path).replace(/["\\\r\n]/g, '_');
  const head: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${name}"` };
  if (first.eof) {
    void reply.hijack();
    raw.writeHead(200, { ...head, 'content-length': String(first.data.length) });
    raw.end(first.data);
    return;
  }
  void reply.hijack();
  raw.writeHead(200, head);
  let offset = first.data.length;
  const write = (b: Buffer): Promise<void> => new Promise((resolve) => { if (raw.write(b)) resolve(); else raw.once('drain', resolve); });
  await write(first.data);
  try {
    for (;;) {
      if (signal.aborted || raw.destroyed) return;
      const next = await read(offset);
      if (next.data.length > 0) await write(next.data);
      offset += next.data.length;
      if (next.eof || next.data.length === 0) break;
    }
    raw.end();
  } catch {
    // The status is sent: a failure now can only cut the answer short, which the client sees.
    raw.destroy();
  }
}
