import { z } from 'zod';
import { AgentdError } from '../../core/errors.js';

/** `isolation.backends.namespace` in the config. Every field is optional. */
export const NamespaceOptionsSchema = z
  .object({
    bwrap_path: z.string().min(1).optional().describe('Path of the bwrap binary; default: searched in PATH.'),
    seccomp_path: z.string().min(1).optional().describe('Compiled seccomp filter (BPF) handed to bwrap; default: native/build/seccomp.bpf. Required: a missing filter makes the backend unavailable.'),
    host_uid: z
      .number().int().min(1).max(0xfffffffe).optional()
      .describe('When the daemon runs as root: the unprivileged host uid a sandbox runs as (its uid 1000 maps to it). Never 0, so a sandbox never holds host root\'s file ownership. Default 1000000.'),
    host_gid: z.number().int().min(1).max(0xfffffffe).optional().describe('Host gid to go with host_uid (default: host_uid).'),
    cgroup_parent: z.string().min(1).optional().describe("Parent cgroup of the sandboxes' groups, relative to each hierarchy (default 'agentd')."),
    require_cgroup: z
      .boolean().optional()
      .describe('true: refuse to start a sandbox without a cgroup even when it asks for no limits (default false: use one whenever cgroups are usable).'),
  })
  .strict();

export type NamespaceOptions = z.infer<typeof NamespaceOptionsSchema>;

export const DEFAULT_HOST_ID = 1_000_000;

export function parseNamespaceOptions(raw: Record<string, unknown>): NamespaceOptions {
  const parsed = NamespaceOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `isolation.backends.namespace.${i.path.join('.')}: ${i.message}`);
    throw new AgentdError('INVALID_CONFIG', problems.join('; '), { details: { problems } });
  }
  return Object.freeze(parsed.data);
}
