import { z } from 'zod';
import { FileMode, SandboxPath } from './common.js';
import type { Capability } from './types.js';

export const FsMkdirParams = z
  .object({
    path: SandboxPath,
    parents: z.boolean().optional().describe('Create missing parents, no error if it already is a directory (like mkdir -p).'),
    mode: FileMode.optional().describe('Mode of the new directory (default 0755).'),
  })
  .strict();
export type FsMkdirParams = z.infer<typeof FsMkdirParams>;

export const fsMkdir: Capability<FsMkdirParams> = {
  name: 'fs.mkdir',
  version: 'v1',
  description: 'Create a directory.',
  params: FsMkdirParams,
  writes: true,
  async run(params, { sandbox, signal }) {
    await sandbox.channel.fs.mkdir(params.path, { parents: params.parents ?? false, ...(params.mode === undefined ? {} : { mode: params.mode }), signal });
    return { code: 'OK', result: { output: {} } };
  },
};
