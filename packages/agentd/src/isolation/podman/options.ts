import { z } from 'zod';
import { AgentdError } from '../../core/errors.js';

/** uids per sandbox: a whole 16-bit range, so an image's files (0..65534, nobody) all map. */
export const UIDS_PER_SANDBOX = 65536;

/** `isolation.backends.podman` in the config. Every field is optional. */
export const PodmanOptionsSchema = z
  .object({
    socket: z.string().min(1).optional().describe("An operator-run podman service's Unix socket (its libpod API). Default: the backend starts its own service, with its own configuration and store under <home>/podman/."),
    podman_path: z.string().min(1).optional().describe('Path of the podman binary used to start the service; default: searched in PATH.'),
    host_uid_range: z
      .object({
        start: z.number().int().min(1).max(0xfffffffe).describe('First host uid (and gid) of the range.'),
        count: z.number().int().min(UIDS_PER_SANDBOX).max(0xfffffffe).describe(`How many uids the range holds; each sandbox takes ${UIDS_PER_SANDBOX} of them.`),
      })
      .strict()
      .refine((r) => r.start + r.count - 1 <= 0xfffffffe, { message: 'start + count - 1 must stay below 4294967295' })
      .optional()
      .describe(`Host uids of the sandboxes' user namespaces: each sandbox gets ${UIDS_PER_SANDBOX} of them (uid 0 inside = the block's first, the agent user 1000 = first + 1000). Must not overlap /etc/subuid, an account or the namespace backend's range. Default {start = 200000000, count = ${UIDS_PER_SANDBOX * 1024}}.`),
    ready_timeout_ms: z.number().int().min(1000).max(600_000).optional().describe("How long a start waits for the container's agentd-init to say READY (default 30000)."),
  })
  .strict();

export type PodmanOptions = z.infer<typeof PodmanOptionsSchema>;

export const DEFAULT_UID_RANGE = { start: 200_000_000, count: UIDS_PER_SANDBOX * 1024 } as const;

export function parsePodmanOptions(raw: Record<string, unknown>): PodmanOptions {
  const parsed = PodmanOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `isolation.backends.podman.${i.path.join('.')}: ${i.message}`);
    throw new AgentdError('INVALID_CONFIG', problems.join('; '), { details: { problems } });
  }
  return Object.freeze(parsed.data);
}
