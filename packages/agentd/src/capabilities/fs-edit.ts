import { z } from 'zod';
import { AgentdError } from '../core/errors.js';
import { SandboxPath } from './common.js';
import type { Capability } from './types.js';

/** Files larger than this are not edited in memory. */
const MAX_EDIT_BYTES = 32 * 1024 * 1024;

export const FsEditParams = z
  .object({
    path: SandboxPath,
    old_string: z.string().min(1).max(8 * 1024 * 1024).describe('Exact text to replace; must occur once unless replace_all.'),
    new_string: z.string().max(8 * 1024 * 1024).describe('Replacement text.'),
    replace_all: z.boolean().optional().describe('Replace every occurrence (default false: old_string must be unique).'),
  })
  .strict();
export type FsEditParams = z.infer<typeof FsEditParams>;

function countOccurrences(text: string, needle: string): number {
  let n = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

export const fsEdit: Capability<FsEditParams> = {
  name: 'fs.edit',
  version: 'v1',
  description: 'Replace exact text in a UTF-8 file; fails if old_string is absent, or not unique without replace_all.',
  params: FsEditParams,
  writes: true,
  async run(params, { sandbox, signal }) {
    const fs = sandbox.channel.fs;
    const r = await fs.read(params.path, { offset: 0, limit: MAX_EDIT_BYTES + 1, signal });
    if (r.fileSize > MAX_EDIT_BYTES) {
      throw new AgentdError('PAYLOAD_TOO_LARGE', `cannot edit ${params.path}: ${r.fileSize} bytes is over the ${MAX_EDIT_BYTES}-byte edit limit`);
    }
    const text = r.data.toString('utf8');
    const occurrences = countOccurrences(text, params.old_string);
    if (occurrences === 0) {
      throw new AgentdError('INVALID_ARGUMENT', `old_string does not occur in ${params.path}`, { details: { reason: 'old_string_not_found', path: params.path } });
    }
    if (occurrences > 1 && !params.replace_all) {
      throw new AgentdError('INVALID_ARGUMENT', `old_string occurs ${occurrences} times in ${params.path}; make it unique or set replace_all`, {
        details: { reason: 'old_string_not_unique', occurrences, path: params.path },
      });
    }
    const edited = params.replace_all ? text.split(params.old_string).join(params.new_string) : text.replace(params.old_string, () => params.new_string);
    await fs.write(params.path, Buffer.from(edited, 'utf8'), { signal });
    return { code: 'OK', result: { output: { replacements: params.replace_all ? occurrences : 1 } } };
  },
};
