import type { IntentConstraints } from '../core/intent.js';
import { minDefined } from '../util/numbers.js';

/** Numeric limits: lower is tighter. */
const LIMITS = ['max_duration_ms', 'max_output_bytes', 'max_memory_bytes'] as const;
/** Permissions: false is tighter. */
const PERMISSIONS = ['allow_network', 'allow_writes'] as const;

/**
 * The constraints an intent runs with: the policy's decision, never looser than what the
 * caller asked. Each limit is the lower of the two (a limit the caller set stays even if the
 * policy left it out; a policy may add one); a permission the caller set to false stays false.
 */
export function effectiveConstraints(asked: IntentConstraints, decided: IntentConstraints): IntentConstraints {
  const out: IntentConstraints = { ...decided };
  for (const key of LIMITS) {
    const value = minDefined(asked[key], decided[key]);
    if (value === undefined) delete out[key];
    else out[key] = value;
  }
  for (const key of PERMISSIONS) {
    if (asked[key] === false) out[key] = false;
  }
  return out;
}
