import { z } from 'zod';
import { SandboxPath } from './common.js';
import type { Capability } from './types.js';

export const FsStatParams = z
  .object({
    path: SandboxPath,
    follow: z.boolean().optional().describe('Follow a final symlink (default true); false describes the link itself.'),
  })
  .strict();
export type FsStatParams = z.infer<typeof FsStatParams>;

export const fsStat: Capability<FsStatParams> = {
  name: 'fs.stat',
  version: 'v1',
  description: 'Describe a file, directory or symlink.',
  params: FsStatParams,
  writes: false,
  async run(params, { sandbox, signal }) {
    const s = await sandbox.channel.fs.stat(params.path, { follow: params.follow ?? true, signal });
    return {
      code: 'OK',
      result: {
        output: {
          kind: s.kind, mode: s.mode, size: s.size, mtime_ms: s.mtimeMs, uid: s.uid, gid: s.gid,
          ...(s.linkTarget === undefined ? {} : { link_target: s.linkTarget }),
        },
      },
    };
  },
};
