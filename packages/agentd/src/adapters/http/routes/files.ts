import { z } from 'zod';
import type { Principal } from '../../../auth/types.js';
import { SandboxPath } from '../../../capabilities/common.js';
import { FsEditParams } from '../../../capabilities/fs-edit.js';
import { FsMkdirParams } from '../../../capabilities/fs-mkdir.js';
import { FsRenameParams } from '../../../capabilities/fs-rename.js';
import { errorOfResponse } from '../errors.js';
import { QueryBool, QueryInt, route, type RouteSpec } from '../route.js';
import type { HttpServices } from '../services.js';

const ReadQuery = z.object({ path: SandboxPath, offset: QueryInt.optional().describe('Byte offset.'), limit: QueryInt.optional().describe('Most bytes.') }).strict();
const WriteQuery = z
  .object({
    path: SandboxPath,
    append: QueryBool.optional().describe('Append instead of truncating.'),
    create_dirs: QueryBool.optional().describe('Create missing parent directories.'),
    mode: z.string().regex(/^0?[0-7]{1,4}$/, 'octal mode like 0644').transform((v) => Number.parseInt(v, 8)).optional().describe('Octal mode of a new file.'),
  })
  .strict();
const PathQuery = z.object({ path: SandboxPath }).strict();
const StatQuery = z.object({ path: SandboxPath, follow: QueryBool.optional().describe('Follow a final symlink (default true).') }).strict();
const RemoveQuery = z.object({ path: SandboxPath, recursive: QueryBool.optional().describe('Remove a directory tree.') }).strict();

const Entry = z.object({ name: z.string(), kind: z.enum(['file', 'directory', 'symlink', 'other']), mode: z.number(), size: z.number(), mtime_ms: z.number() });

/** Runs an fs capability as an intent on the sandbox and returns its output (throws the intent's error). */
async function fsIntent(svc: HttpServices, principal: Principal, sandboxId: string, capability: string, params: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> {
  const resp = await svc.pipeline.execute(principal, { capability, params, sandbox_prefs: { sandbox_id: sandboxId } }, { signal });
  if (resp.status !== 'ok' || !resp.result) throw errorOfResponse(resp.error ?? { code: 'INTERNAL', message: 'no result', details: {}, retryable: false });
  return ((resp.result).output ?? {}) as Record<string, unknown>;
}

export function fileRoutes(svc: HttpServices): RouteSpec[] {
  return [
    route<z.infer<typeof ReadQuery>>({
      method: 'GET', url: '/v1/sandboxes/:id/files', operationId: 'readFile', summary: 'Read a file (raw bytes).', tag: 'files', auth: true,
      query: ReadQuery,
      responses: { 200: { description: 'The bytes; headers X-File-Size and X-EOF', contentType: 'application/octet-stream' } },
      handler: async ({ principal, params, query, signal, reply }) => {
        const out = await fsIntent(svc, principal, params.id ?? '', 'fs.read.v1', {
          path: query.path, encoding: 'base64', ...(query.offset === undefined ? {} : { offset: query.offset }), ...(query.limit === undefined ? {} : { limit: query.limit }),
        }, signal);
        void reply.type('application/octet-stream').header('x-file-size', String(out.file_size)).header('x-eof', String(out.eof));
        return Buffer.from(typeof out.content === 'string' ? out.content : '', 'base64');
      },
    }),
    route<z.infer<typeof WriteQuery>>({
      method: 'PUT', url: '/v1/sandboxes/:id/files', operationId: 'writeFile', summary: 'Write a file from the raw body.', tag: 'files', auth: true,
      query: WriteQuery, rawBody: true,
      responses: { 200: { description: 'Written', schema: z.object({ bytes_written: z.number(), file_size: z.number() }) } },
      handler: async ({ principal, params, query, raw, signal }) => {
        const data = raw ?? Buffer.alloc(0);
        return fsIntent(svc, principal, params.id ?? '', 'fs.write.v1', {
          path: query.path, content: data.toString('base64'), encoding: 'base64',
          ...(query.append === undefined ? {} : { append: query.append }),
          ...(query.create_dirs === undefined ? {} : { create_dirs: query.create_dirs }),
          ...(query.mode === undefined ? {} : { mode: query.mode }),
        }, signal);
      },
    }),
    route<unknown, z.infer<typeof FsEditParams>>({
      method: 'POST', url: '/v1/sandboxes/:id/files/edit', operationId: 'editFile', summary: 'Replace exact text in a file.', tag: 'files', auth: true,
      body: FsEditParams, responses: { 200: { description: 'Replacements made', schema: z.object({ replacements: z.number() }) } },
      handler: async ({ principal, params, body, signal }) => fsIntent(svc, principal, params.id ?? '', 'fs.edit.v1', body, signal),
    }),
    route<z.infer<typeof PathQuery>>({
      method: 'GET', url: '/v1/sandboxes/:id/files/list', operationId: 'listFiles', summary: 'List a directory.', tag: 'files', auth: true,
      query: PathQuery, responses: { 200: { description: 'Entries', schema: z.object({ entries: z.array(Entry) }) } },
      handler: async ({ principal, params, query, signal }) => fsIntent(svc, principal, params.id ?? '', 'fs.list.v1', { path: query.path }, signal),
    }),
    route<z.infer<typeof StatQuery>>({
      method: 'GET', url: '/v1/sandboxes/:id/files/stat', operationId: 'statFile', summary: 'Describe a path.', tag: 'files', auth: true,
      query: StatQuery,
      responses: {
        200: {
          description: 'Stat',
          schema: z.object({ kind: z.string(), mode: z.number(), size: z.number(), mtime_ms: z.number(), uid: z.number(), gid: z.number(), link_target: z.string().optional() }),
        },
      },
      handler: async ({ principal, params, query, signal }) =>
        fsIntent(svc, principal, params.id ?? '', 'fs.stat.v1', { path: query.path, ...(query.follow === undefined ? {} : { follow: query.follow }) }, signal),
    }),
    route<z.infer<typeof RemoveQuery>>({
      method: 'DELETE', url: '/v1/sandboxes/:id/files', operationId: 'removeFile', summary: 'Remove a path.', tag: 'files', auth: true,
      query: RemoveQuery, responses: { 204: { description: 'Removed' } },
      handler: async ({ principal, params, query, signal, reply }) => {
        await fsIntent(svc, principal, params.id ?? '', 'fs.remove.v1', { path: query.path, ...(query.recursive === undefined ? {} : { recursive: query.recursive }) }, signal);
        void reply.code(204);
        return undefined;
      },
    }),
    route<unknown, z.infer<typeof FsMkdirParams>>({
      method: 'POST', url: '/v1/sandboxes/:id/files/mkdir', operationId: 'mkdir', summary: 'Create a directory.', tag: 'files', auth: true,
      body: FsMkdirParams, responses: { 204: { description: 'Created' } },
      handler: async ({ principal, params, body, signal, reply }) => {
        await fsIntent(svc, principal, params.id ?? '', 'fs.mkdir.v1', body, signal);
        void reply.code(204);
        return undefined;
      },
    }),
    route<unknown, z.infer<typeof FsRenameParams>>({
      method: 'POST', url: '/v1/sandboxes/:id/files/rename', operationId: 'renameFile', summary: 'Rename (move) a path atomically.', tag: 'files', auth: true,
      body: FsRenameParams, responses: { 204: { description: 'Renamed' } },
      handler: async ({ principal, params, body, signal, reply }) => {
        await fsIntent(svc, principal, params.id ?? '', 'fs.rename.v1', body, signal);
        void reply.code(204);
        return undefined;
      },
    }),
  ];
}
