import { z } from 'zod';
import { SandboxPath } from './common.js';
import type { Capability } from './types.js';

export const FsListParams = z.object({ path: SandboxPath }).strict();
export type FsListParams = z.infer<typeof FsListParams>;

export const fsList: Capability<FsListParams> = {
  name: 'fs.list',
  version: 'v1',
  description: 'List the entries of a directory.',
  params: FsListParams,
  writes: false,
  async run(params, { sandbox, signal }) {
    const entries = await sandbox.channel.fs.list(params.path, { signal });
    return {
      code: 'OK',
      result: { output: { entries: entries.map((e) => ({ name: e.name, kind: e.kind, mode: e.mode, size: e.size, mtime_ms: e.mtimeMs })) } },
    };
  },
};
