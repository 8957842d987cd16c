/**
 * Policy may tighten an intent's constraints, never loosen them: what the pipeline runs with
 * is the lower of each limit asked and decided, and a permission asked off stays off.
 */
import { describe, expect, test } from 'vitest';
import { effectiveConstraints } from '../../src/pipeline/constraints.js';

const MiB = 1024 * 1024;

describe('effective constraints (asked vs. the policy decision)', () => {
  test('a policy that lowers a limit wins', () => {
    expect(effectiveConstraints({ max_memory_bytes: 256 * MiB }, { max_memory_bytes: 64 * MiB })).toEqual({ max_memory_bytes: 64 * MiB });
  });

  test('a policy that raises a limit, or drops it, is ignored: the asked limit stays', () => {
    expect(effectiveConstraints({ max_memory_bytes: 64 * MiB, max_duration_ms: 1000 }, { max_memory_bytes: 1024 * MiB, max_duration_ms: 60_000 }))
      .toEqual({ max_memory_bytes: 64 * MiB, max_duration_ms: 1000 });
    expect(effectiveConstraints({ max_memory_bytes: 64 * MiB, max_output_bytes: 10 }, {})).toEqual({ max_memory_bytes: 64 * MiB, max_output_bytes: 10 });
  });

  test('a policy may add a limit the caller did not ask for', () => {
    expect(effectiveConstraints({}, { max_memory_bytes: 32 * MiB })).toEqual({ max_memory_bytes: 32 * MiB });
  });

  test('a permission the caller turned off stays off; the policy may turn one off', () => {
    expect(effectiveConstraints({ allow_network: false, allow_writes: false }, { allow_network: true, allow_writes: true })).toEqual({ allow_network: false, allow_writes: false });
    expect(effectiveConstraints({ allow_network: true }, { allow_network: false })).toEqual({ allow_network: false });
  });
});
