import { z } from 'zod';
import { AgentdError } from '../../core/errors.js';

const REMOVED = 'removed: one uid shared by every sandbox shares their per-user kernel limits; use host_uid_range = { start = N, count = M } (each sandbox gets its own uid, gid the same number)';

/** `isolation.backends.namespace` in the config. Every field is optional. */
export const NamespaceOptionsSchema = z
  .object({
    bwrap_path: z.string().min(1).optional().describe('Path of the bwrap binary; default: searched in PATH.'),
    seccomp_path: z.string().min(1).optional().describe('Compiled seccomp filter (BPF) handed to bwrap; default: native/build/seccomp.bpf. Required: a missing filter makes the backend unavailable.'),
    host_uid: z
      .never({ error: REMOVED }).optional()
      .describe('Removed (refused): one host uid shared by every sandbox shared their per-user kernel limits. Use host_uid_range.'),
    host_gid: z.never({ error: REMOVED }).optional().describe("Removed (refused) with host_uid: a sandbox's gid is its uid. Use host_uid_range."),
    host_uid_range: z
      .object({
        start: z.number().int().min(1).max(0xfffffffe).describe('First host uid (and gid) handed to sandboxes. Never 0.'),
        count: z.number().int().min(2).max(16_777_216).describe('How many uids the range holds; the last one is kept for the backend probe, so at most count - 1 sandboxes have files at once.'),
      })
      .strict()
      .refine((r) => r.start + r.count - 1 <= 0xfffffffe, { message: 'start + count - 1 must stay below 4294967295' })
      .optional()
      .describe('When the daemon runs as root: each sandbox gets its own unprivileged host uid (gid the same number) from this range, kept while its files exist, so per-user kernel limits and file permissions separate sandboxes. Must not overlap /etc/subuid, /etc/subgid or an account id. Default {start = 1000000, count = 65536}.'),
    cgroup_parent: z.string().min(1).optional().describe("Parent cgroup of the sandboxes' groups, relative to each hierarchy (default 'agentd')."),
    shepherd_subreaper: z
      .boolean().optional()
      .describe("false: agentd-init's per-command shepherds are not child subreapers (agentd-init --no-shepherd-subreaper, what the gvisor backend uses where gVisor refuses the prctl): a command's orphans go to the init, PID 1, which reaps them; an exec's processes are then its session, its process group and its shepherd's descendants. Default true. For testing that mode where gVisor is not."),
    require_cgroup: z
      .boolean().optional()
      .describe('true: refuse to start a sandbox without a cgroup even when it asks for no limits (default false: use one whenever cgroups are usable).'),
  })
  .strict();

export type NamespaceOptions = z.infer<typeof NamespaceOptionsSchema>;

export function parseNamespaceOptions(raw: Record<string, unknown>): NamespaceOptions {
  const parsed = NamespaceOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `isolation.backends.namespace.${i.path.join('.')}: ${i.message}`);
    throw new AgentdError('INVALID_CONFIG', problems.join('; '), { details: { problems } });
  }
  return Object.freeze(parsed.data);
}
