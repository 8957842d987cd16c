import { z } from 'zod';
import { SandboxPath } from './common.js';
import type { Capability } from './types.js';

export const FsRenameParams = z
  .object({
    from: SandboxPath.describe('Path to move (a final symlink is moved itself, never followed).'),
    to: SandboxPath.describe('New path; an existing file there is replaced only with overwrite (a symlink there is replaced, never written through).'),
    overwrite: z.boolean().optional().describe('Replace an existing `to` atomically (default false: EEXIST when `to` exists).'),
  })
  .strict();
export type FsRenameParams = z.infer<typeof FsRenameParams>;

/**
 * Moves a path inside the sandbox (rename(2) through agentd-init, so it is atomic within one
 * file system): the SDK's large writes land under a temporary name and are renamed over
 * the final one at the end, so a failed upload never leaves half a file under that name.
 */
export const fsRename: Capability<FsRenameParams> = {
  name: 'fs.rename',
  version: 'v1',
  description: 'Rename (move) a file, symlink or directory inside the sandbox, atomically.',
  params: FsRenameParams,
  writes: true,
  async run(params, { sandbox, signal }) {
    await sandbox.channel.fs.rename(params.from, params.to, { overwrite: params.overwrite ?? false, signal });
    return { code: 'OK', result: { output: {} } };
  },
};
