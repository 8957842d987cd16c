import type { Principal } from '../auth/types.js';
import type { IntentConstraints, SandboxPrefs } from '../core/intent.js';
import type { ProfileName } from '../isolation/types.js';

export interface PolicyInput {
  /**
   * 'intent' (undefined means intent too): `capability` is the capability ("shell.exec.v1").
   * 'operation': a lifecycle or admin operation through the gate (pipeline/gate.ts);
   * `capability` is its name ("sandbox.fork", see OperationName), `params` the validated
   * request, `sandboxPrefs.sandbox_id` the sandbox it acts on, `sandboxPrefs.profile/backend`
   * what a new sandbox asks; `constraints` is empty and the decided constraints are ignored.
   */
  kind?: 'intent' | 'operation';
  principal: Principal;
  /** "shell.exec.v1", or an operation name ("sandbox.create"). */
  capability: string;
  /** Whether the capability can change files. */
  writes: boolean;
  params: unknown;
  constraints: IntentConstraints;
  sandboxPrefs: SandboxPrefs;
  /** The daemon's profile. */
  profile: ProfileName;
}

export type PolicyDecision =
  | {
    allow: true;
    /**
     * Effective constraints: equal to or tighter than asked. The pipeline enforces that: a
     * looser value (a higher limit, a dropped limit, a permission turned back on) is ignored.
     */
    constraints: IntentConstraints;
  }
  | { allow: false; reason: string; rule: string };

/** The hook the real policy engine will implement; deny wins. */
export interface PolicyHook {
  decide(input: PolicyInput): PolicyDecision | Promise<PolicyDecision>;
}

/** Longest command the paranoid profile lets an intent ask for. */
const PARANOID_MAX_DURATION_MS = 300_000;

/**
 * The default decision, by profile, until the policy engine exists:
 * - `allow_writes: false` denies every capability that can change files (shell.exec included);
 * - `allow_network: true` is denied under server and paranoid (their sandboxes have no network);
 * - (a weaker profile, a wider network, higher limits, a longer TTL or a weaker backend than
 *   the config grants are refused for every new sandbox by sandbox/grants.ts, not here: one rule, one place);
 * - lifecycle operations (`kind: 'operation'`) are allowed: the default policy has no rule on them;
 * - paranoid caps `max_duration_ms` at 5 minutes.
 */
export const defaultPolicy: PolicyHook = {
  decide(input) {
    const strict = input.profile === 'server' || input.profile === 'paranoid';
    if (input.constraints.allow_writes === false && input.writes) {
      return { allow: false, rule: 'allow_writes', reason: `${input.capability} can modify files but the intent says allow_writes: false` };
    }
    if (strict && input.constraints.allow_network === true) {
      return { allow: false, rule: 'network', reason: `profile '${input.profile}' gives sandboxes no network` };
    }
    if (input.profile === 'paranoid') {
      const max = Math.min(input.constraints.max_duration_ms ?? PARANOID_MAX_DURATION_MS, PARANOID_MAX_DURATION_MS);
      return { allow: true, constraints: { ...input.constraints, max_duration_ms: max } };
    }
    return { allow: true, constraints: input.constraints };
  },
};
