import { z } from 'zod';
import { SandboxPath } from './common.js';
import type { Capability } from './types.js';

export const FsRemoveParams = z
  .object({
    path: SandboxPath,
    recursive: z.boolean().optional().describe('Remove a directory and everything under it (default false: a file, symlink or empty directory).'),
  })
  .strict();
export type FsRemoveParams = z.infer<typeof FsRemoveParams>;

export const fsRemove: Capability<FsRemoveParams> = {
  name: 'fs.remove',
  version: 'v1',
  description: 'Remove a file, symlink or directory.',
  params: FsRemoveParams,
  writes: true,
  async run(params, { sandbox, signal }) {
    await sandbox.channel.fs.remove(params.path, { recursive: params.recursive ?? false, signal });
    return { code: 'OK', result: { output: {} } };
  },
};
