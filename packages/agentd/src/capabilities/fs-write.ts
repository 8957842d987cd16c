import { z } from 'zod';
import { Encoding, FileMode, SandboxPath, decodeContent } from './common.js';
import type { Capability } from './types.js';

export const FsWriteParams = z
  .object({
    path: SandboxPath,
    content: z.string().max(96 * 1024 * 1024).describe('The bytes to write, encoded as `encoding` says.'),
    encoding: Encoding.default('utf8').describe('Encoding of `content` (default utf8).'),
    create_dirs: z.boolean().optional().describe('Create missing parent directories (mode 0755).'),
    append: z.boolean().optional().describe('Append instead of truncating.'),
    mode: FileMode.optional().describe('Mode of a newly created file (default 0644).'),
  })
  .strict();
export type FsWriteParams = z.infer<typeof FsWriteParams>;

export const fsWrite: Capability<FsWriteParams> = {
  name: 'fs.write',
  version: 'v1',
  description: 'Create, overwrite or append to a file.',
  params: FsWriteParams,
  writes: true,
  async run(params, { sandbox, signal }) {
    const data = decodeContent(params.content, params.encoding);
    const r = await sandbox.channel.fs.write(params.path, data, {
      append: params.append ?? false,
      createDirs: params.create_dirs ?? false,
      ...(params.mode === undefined ? {} : { mode: params.mode }),
      signal,
    });
    return { code: 'OK', result: { output: { bytes_written: r.bytesWritten, file_size: r.fileSize } } };
  },
};
