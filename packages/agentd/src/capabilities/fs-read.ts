import { z } from 'zod';
import { Encoding, SandboxPath, encodeBytes } from './common.js';
import type { Capability } from './types.js';

export const FsReadParams = z
  .object({
    path: SandboxPath,
    offset: z.number().int().min(0).optional().describe('Byte offset to start reading at (default 0).'),
    limit: z.number().int().min(0).max(64 * 1024 * 1024).optional().describe('Most bytes to read (default: up to 64 MiB).'),
    encoding: Encoding.optional().describe('Encoding of `content`: utf8, base64, or (absent) utf8 when the bytes are valid UTF-8 and base64 otherwise.'),
  })
  .strict();
export type FsReadParams = z.infer<typeof FsReadParams>;

export const fsRead: Capability<FsReadParams> = {
  name: 'fs.read',
  version: 'v1',
  description: 'Read a file (binary-safe) with an optional offset and limit.',
  params: FsReadParams,
  writes: false,
  async run(params, { sandbox, signal }) {
    const r = await sandbox.channel.fs.read(params.path, { offset: params.offset ?? 0, limit: params.limit ?? 64 * 1024 * 1024, signal });
    const { content, encoding } = encodeBytes(r.data, params.encoding);
    return { code: 'OK', result: { output: { content, encoding, size: r.data.length, file_size: r.fileSize, eof: r.eof } } };
  },
};
