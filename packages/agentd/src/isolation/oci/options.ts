import { z } from 'zod';
import { AgentdError } from '../../core/errors.js';

const HostUidRange = z
  .object({
    start: z.number().int().min(1).max(0xfffffffe).describe('First host uid (and gid) handed to sandboxes. Never 0.'),
    count: z.number().int().min(3).max(16_777_216).describe('How many uids the range holds; the last one is kept for the backend probe.'),
  })
  .strict()
  .refine((r) => r.start + r.count - 1 <= 0xfffffffe, { message: 'start + count - 1 must stay below 4294967295' });

const common = {
  host_uid_range: HostUidRange.optional().describe(
    "Host uids (gid the same number) the sandboxes' user namespaces map to: uid 1000 inside (agent) and uid 0 inside (root) each get their own lease from this range. Default {start = 1000000, count = 65536}, the namespace backend's default: leases live in <home>/host-uids for every backend, so backends given the same range never hand out one uid twice.",
  ),
  cgroup_parent: z.string().min(1).optional().describe("Parent cgroup of the sandboxes' groups, relative to each hierarchy (default 'agentd', shared with the other backends)."),
};

/** `isolation.backends.oci` (and `oci-runc`, `oci-crun`) in the config. Every field is optional. */
export const OciOptionsSchema = z
  .object({
    runtime: z
      .enum(['auto', 'runc', 'crun'])
      .optional()
      .describe("Which OCI runtime backend 'oci' uses: 'runc', 'crun', or 'auto' (default: crun when it works here, else runc). The names 'runc' and 'crun' (backends oci-runc and oci-crun) always use that runtime."),
    runc_path: z.string().min(1).optional().describe('Path of the runc binary; default: searched in PATH.'),
    crun_path: z.string().min(1).optional().describe('Path of the crun binary; default: searched in PATH.'),
    ...common,
  })
  .strict();

/** `isolation.backends.gvisor` in the config. */
export const GvisorOptionsSchema = z
  .object({
    runsc_path: z.string().min(1).optional().describe('Path of the runsc binary; default: searched in PATH.'),
    platform: z
      .enum(['auto', 'systrap', 'kvm', 'ptrace'])
      .optional()
      .describe("gVisor's platform: 'auto' (default) takes systrap or kvm where the runsc build and the host offer them, else ptrace; the probe runs each candidate once and `agentd doctor` says which it took."),
    ...common,
  })
  .strict();

export type OciOptions = z.infer<typeof OciOptionsSchema>;
export type GvisorOptions = z.infer<typeof GvisorOptionsSchema>;

export function parseOptions<T extends z.ZodType>(schema: T, backend: string, raw: Record<string, unknown>): z.infer<T> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `isolation.backends.${backend}.${i.path.join('.')}: ${i.message}`);
    throw new AgentdError('INVALID_CONFIG', problems.join('; '), { details: { problems } });
  }
  return Object.freeze(parsed.data) as z.infer<T>;
}
