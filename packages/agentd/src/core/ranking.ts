/**
 * The one ranking of profiles, network modes and isolation levels (lower = weaker). Every
 * "at least as strict" / "no wider" / "no weaker" rule compares through these tables.
 *
 * Profiles: workstation < custom < server < paranoid. `custom` sits just above workstation:
 * it imposes no rule of its own (its preset is neutral: network none, no limits, no TTL, host-
 * direct not refused), so it is never stricter than server, but it implies no allow-all and
 * no host network, so it is never weaker than workstation.
 */
export const PROFILE_STRICTNESS = ['workstation', 'custom', 'server', 'paranoid'] as const;
/** Network modes from narrowest to widest. */
export const NETWORK_WIDTH = ['none', 'allowlist', 'host'] as const;
/** Isolation levels from weakest to strongest: kernel isolation ranks above host-direct ('none'). */
export const ISOLATION_STRENGTH = ['none', 'kernel'] as const;

export type RankedProfile = (typeof PROFILE_STRICTNESS)[number];
export type RankedNetwork = (typeof NETWORK_WIDTH)[number];
export type RankedIsolation = (typeof ISOLATION_STRENGTH)[number];

export const profileRank = (p: RankedProfile): number => PROFILE_STRICTNESS.indexOf(p);
export const networkRank = (n: RankedNetwork): number => NETWORK_WIDTH.indexOf(n);
export const isolationRank = (i: RankedIsolation): number => ISOLATION_STRENGTH.indexOf(i);

/** The stricter of two profiles. */
export function stricterProfile<P extends RankedProfile>(a: P, b: P): P {
  return profileRank(a) >= profileRank(b) ? a : b;
}

/** The narrower of two network modes. */
export function narrowerNetwork<N extends RankedNetwork>(a: N, b: N): N {
  return networkRank(a) <= networkRank(b) ? a : b;
}
