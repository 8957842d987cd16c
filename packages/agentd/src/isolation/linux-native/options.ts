import { z } from 'zod';
import { AgentdError } from '../../core/errors.js';

/** `isolation.backends.linux-native` in the config. Every field is optional. */
export const LinuxNativeOptionsSchema = z
  .object({
    host_uid_range: z
      .object({
        start: z.number().int().min(1).max(0xfffffffe).describe('First host uid (and gid) handed to sandboxes. Never 0.'),
        count: z.number().int().min(2).max(16_777_216).describe('How many uids the range holds; the last one is kept for the backend probe.'),
      })
      .strict()
      .refine((r) => r.start + r.count - 1 <= 0xfffffffe, { message: 'start + count - 1 must stay below 4294967295' })
      .optional()
      .describe("When the daemon runs as root: each sandbox runs as its own unprivileged host uid (gid the same number) from this range. Leases are shared with the namespace backend (<home>/host-uids), so give both the same range. Default {start = 1000000, count = 65536}."),
    cgroup_parent: z.string().min(1).optional().describe("Parent cgroup of the sandboxes' groups, relative to each hierarchy (default 'agentd')."),
  })
  .strict();

export type LinuxNativeOptions = z.infer<typeof LinuxNativeOptionsSchema>;

export function parseLinuxNativeOptions(raw: Record<string, unknown>): LinuxNativeOptions {
  const parsed = LinuxNativeOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `isolation.backends.linux-native.${i.path.join('.')}: ${i.message}`);
    throw new AgentdError('INVALID_CONFIG', problems.join('; '), { details: { problems } });
  }
  return Object.freeze(parsed.data);
}
