import type { IsolationLevel } from './types.js';

/** A backend agentd knows by name, whether or not it is implemented yet. */
export interface BuiltinBackendName {
  readonly name: string;
  readonly aliases: readonly string[];
  /** What the backend isolates with once running (the probe has the final word). */
  readonly isolation: IsolationLevel;
  /** false: the name is reserved, resolving it says "not implemented yet". */
  readonly implemented: boolean;
}

/**
 * The built-in backend names and their aliases. A plain table (no factories) so that the
 * config validator and the registry agree on names without importing any backend code.
 * Order is the preference order of best-backend detection among kernel backends.
 */
export const BUILTIN_BACKENDS: readonly BuiltinBackendName[] = Object.freeze([
  { name: 'namespace', aliases: ['bwrap', 'container'], isolation: 'kernel', implemented: true },
  // 'oci' takes its runtime from isolation.backends.oci.runtime; the aliases 'runc' and 'crun' name a backend of their own that always uses that runtime (docs/backends.md).
  { name: 'oci', aliases: [], isolation: 'kernel', implemented: true },
  { name: 'oci-runc', aliases: ['runc'], isolation: 'kernel', implemented: true },
  { name: 'oci-crun', aliases: ['crun'], isolation: 'kernel', implemented: true },
  { name: 'gvisor', aliases: ['runsc'], isolation: 'kernel', implemented: true },
  { name: 'podman', aliases: ['docker'], isolation: 'kernel', implemented: true },
  // After every backend with a pid namespace: auto takes linux-native only where none of them runs (docs/backends.md).
  { name: 'linux-native', aliases: ['landlock'], isolation: 'kernel', implemented: true },
  { name: 'firecracker', aliases: ['microvm'], isolation: 'kernel', implemented: false },
  { name: 'host-direct', aliases: ['none', 'host', 'workstation'], isolation: 'none', implemented: true },
].map((b) => Object.freeze({ ...b, aliases: Object.freeze(b.aliases) })) as BuiltinBackendName[]);

/** The built-in entry for a name or alias (exact, lower-case match), or undefined. */
export function findBuiltinBackend(nameOrAlias: string): BuiltinBackendName | undefined {
  return BUILTIN_BACKENDS.find((b) => b.name === nameOrAlias || b.aliases.includes(nameOrAlias));
}

/** How a backend name must look: lower-case letters, digits and dashes. */
export const BACKEND_NAME_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;
