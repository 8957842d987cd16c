import { loadConfig, type AgentdConfig, type ConfigInput, type ConfigIssue } from '../config/index.js';
import { createBuiltinRegistry } from '../isolation/builtins.js';
import { assertLimitsEnforceable, LIMIT_KEYS } from '../isolation/profile-guard.js';
import { selectBackend, type SelectedBackend } from '../isolation/select.js';
import type { ProbeCache } from '../isolation/types.js';
import { requireInitPath } from '../native-paths.js';
import { dropUnenforceableForRun } from '../runtime/default-limits.js';
import { profileDefaultsFrom } from '../runtime/settings.js';
import type { ProfileDefaults } from '../sandbox/spec.js';
import type { Logger } from '../util/logger.js';

/** Flags every local (no-daemon) command shares. */
export interface LocalFlags {
  config?: string;
  profile?: string;
  backend?: string;
}

/** Flags as a config overlay: they win over the file and AGENTD_* variables. */
export function flagOverrides(flags: LocalFlags): ConfigInput {
  const out: ConfigInput = {};
  if (flags.profile !== undefined) out.profile = flags.profile;
  if (flags.backend !== undefined) out.isolation = { backend: flags.backend };
  return out;
}

/** Validates `isolation.backends.<name>` with each built-in backend's own options schema, as part of the config check. */
export function checkBackendOptions(): (backends: Readonly<Record<string, Readonly<Record<string, unknown>>>>) => ConfigIssue[] {
  const registry = createBuiltinRegistry();
  return (backends) => registry.checkOptions(backends);
}

/** Which flag sets which config key, for errors ("profile (from --profile)"). */
export const FLAG_SOURCES: Readonly<Record<string, string>> = { profile: '--profile', 'isolation.backend': '--backend' };

export function loadLocalConfig(flags: LocalFlags): Promise<AgentdConfig> {
  return loadConfig({
    ...(flags.config === undefined ? {} : { file: flags.config }),
    overrides: flagOverrides(flags),
    overrideSources: FLAG_SOURCES,
    checkBackendOptions: checkBackendOptions(),
  });
}

export interface LocalBackend extends SelectedBackend {
  /** What a new sandbox of the config's profile gets by default on this backend. */
  defaults: ProfileDefaults;
}

/**
 * Picks the configured backend ("auto": the best here), refusing what the profile forbids, and
 * the profile's sandbox defaults for it. With `probeCache`, backends may take remembered
 * successes of their probes' expensive checks from it (see isolation/probe-cache.ts).
 */
export async function selectLocalBackend(config: AgentdConfig, logger: Logger, probeCache?: ProbeCache): Promise<LocalBackend> {
  const selected = await selectBackend(createBuiltinRegistry(), config, { initPath: requireInitPath(), logger, ...(probeCache === undefined ? {} : { probeCache }) });
  const defaults = profileDefaultsFrom(config, selected.name)(config.profile);
  // `agentd run`: a default the backend cannot enforce is named in a warning and dropped for this run (the daemon refuses instead).
  const limits = dropUnenforceableForRun(config, selected.name, selected.probe, defaults.limits, logger);
  assertLimitsEnforceable(selected.name, selected.probe, limits, (f) => `sandbox.limits.${LIMIT_KEYS[f]} (config)`);
  return { ...selected, defaults: { ...defaults, limits } };
}
