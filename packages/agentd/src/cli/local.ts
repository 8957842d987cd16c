import { loadConfig, type AgentdConfig, type ConfigInput } from '../config/index.js';
import { createBuiltinRegistry } from '../isolation/builtins.js';
import type { BackendProbe, IsolationBackend } from '../isolation/types.js';
import { requireInitPath } from '../native-paths.js';
import { DaemonBackends } from '../runtime/backends.js';
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

export function loadLocalConfig(flags: LocalFlags): Promise<AgentdConfig> {
  return loadConfig({ ...(flags.config === undefined ? {} : { file: flags.config }), overrides: flagOverrides(flags) });
}

export interface LocalBackend {
  backends: DaemonBackends;
  backend: IsolationBackend;
  probes: BackendProbe[];
}

/** Probes the built-in backends and picks the configured one ("auto": the best here), refusing what the profile forbids. */
export async function selectBackend(config: AgentdConfig, logger: Logger): Promise<LocalBackend> {
  const registry = createBuiltinRegistry();
  const requireKernel = config.isolation.require_kernel;
  const backends = new DaemonBackends({ registry, initPath: requireInitPath(), options: config.isolation.backends, profile: config.profile, requireKernel, logger });
  const probes = await backends.probeAll();
  const name = config.isolation.backend === 'auto' ? registry.detectBest(probes, { requireKernel, profile: config.profile }) : backends.canonical(config.isolation.backend);
  const backend = backends.get(name);
  backends.assertProfileAllows(config.profile, backend);
  return { backends, backend, probes };
}
