/**
 * The sandbox of one `agentd run`: the backend chosen as the config says, probed with the
 * probe cache unless it is turned off, and started. The cache only stands in for checks
 * that succeeded before under identical conditions (isolation/probe-cache.ts); the profile
 * guard judges the resulting probe exactly as it judges a fresh one.
 */
import { join } from 'node:path';
import type { AgentdConfig } from '../config/index.js';
import { AgentdError, toAgentdError } from '../core/errors.js';
import { removeSandboxDirs } from '../isolation/dirs.js';
import { assertRunsImages } from '../isolation/lifecycle.js';
import { FileProbeCache } from '../isolation/probe-cache.js';
import type { BindMount, IsolationBackend, SandboxHandle, SandboxSpec } from '../isolation/types.js';
import { newId } from '../sandbox/ids.js';
import { hostPathRulesFrom } from '../runtime/settings.js';
import { applyTemplate, buildSpec } from '../sandbox/spec.js';
import { ImageStore } from '../images/store.js';
import type { Logger } from '../util/logger.js';
import { selectLocalBackend } from './local.js';
import { MOUNT_CWD_TARGET } from './mount-flags.js';

const ON = new Set(['1', 'true', 'yes', 'on']);
const OFF = new Set(['0', 'false', 'no', 'off']);

/**
 * The probe cache of `config.home`, or undefined when `--no-probe-cache` (flag false) or
 * AGENTD_PROBE_CACHE=0|false|no|off turns it off. Empty or unset: on. Another value is an error.
 */
export function runProbeCache(config: AgentdConfig, logger: Logger, flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): FileProbeCache | undefined {
  const raw = (env.AGENTD_PROBE_CACHE ?? '').trim().toLowerCase();
  if (raw !== '' && !ON.has(raw) && !OFF.has(raw)) {
    throw new AgentdError('INVALID_ARGUMENT', `AGENTD_PROBE_CACHE: expected true/false (or 1/0, yes/no, on/off), got "${env.AGENTD_PROBE_CACHE}"`);
  }
  if (flag === false || OFF.has(raw)) return undefined;
  return FileProbeCache.forHome(config.home, logger);
}

export interface PlannedSandbox {
  backend: IsolationBackend;
  spec: SandboxSpec;
  /** The template's start_command (--template), run before the command. */
  startCommand?: string;
  /** What was asked (to plan again after a stale probe). */
  options: PlanOptions;
}

/** What `agentd run` asks of its sandbox besides the config's defaults. */
export interface PlanOptions {
  /** -v / --mount-cwd, as bind mounts. */
  bindMounts?: readonly BindMount[];
  /** --mount-cwd: the current folder (host-direct runs the command there instead of mounting it). */
  mountCwd?: string;
  /** --image NAME (docs/images.md). */
  image?: string;
  /** --template NAME: a template of the config (its image and defaults). */
  template?: string;
}

/** Chooses the backend (probing it, through `cache` when given) and the spec of a fresh one-shot sandbox. */
export async function planSandbox(config: AgentdConfig, logger: Logger, cache?: FileProbeCache, opts: PlanOptions = {}): Promise<PlannedSandbox> {
  const { backend, defaults, probe } = await selectLocalBackend(config, logger, cache);
  const bindMounts = opts.bindMounts ?? [];
  const { req, template } = applyTemplate({ ...(opts.template === undefined ? {} : { template: opts.template }), ...(opts.image === undefined ? {} : { image: opts.image }) }, config.templates);
  // The daemon's image store (<home>/images), shared with one-shot sandboxes.
  // Whether the backend runs images is its probe's word (isolation/lifecycle.ts), never its name's.
  if (req.image !== undefined) assertRunsImages(backend.name, probe, req.image, '--image: ');
  const image = req.image === undefined ? undefined : await new ImageStore(config.home).resolve(req.image);
  const start = { options: opts, ...(template?.start_command === undefined ? {} : { startCommand: template.start_command }) };
  // One-shot sandboxes live apart from the daemon's (<home>/run/sandboxes/<id>), so a daemon
  // starting on the same home never takes them for its own leftovers.
  const spec = buildSpec(newId('sbx'), join(config.home, 'run'), config.profile, defaults, { ...req, image: undefined, template: undefined }, image);
  if (backend.name === 'host-direct' && opts.mountCwd !== undefined) {
    // host-direct confines nothing, so nothing is mounted: --mount-cwd runs the command in the
    // current folder itself; any other host path (-v) is refused by the backend (ISOLATION_REQUIRED).
    const mountCwd = opts.mountCwd;
    const rest = bindMounts.filter((b) => !(b.source === mountCwd && b.target === MOUNT_CWD_TARGET));
    return { backend, spec: { ...spec, workdir: mountCwd, bindMounts: rest.map((b) => ({ ...b, local: true })) }, ...start };
  }
  if (backend.name === 'linux-native' && opts.mountCwd !== undefined) {
    // No mount namespace: the current folder is allowed where it is (read-write, same checks as a
    // bind mount) and is the command's workdir; other -v mounts must name the same target as source.
    const mountCwd = opts.mountCwd;
    const moved = bindMounts.map((b) => (b.source === mountCwd && b.target === MOUNT_CWD_TARGET ? { ...b, target: mountCwd } : b));
    return { backend, spec: { ...spec, workdir: mountCwd, bindMounts: moved.map((b) => ({ ...b, local: true })) }, ...start };
  }
  // `agentd run` is the host's own user: its mounts may also lie under sandbox.local_mount_roots.
  return { backend, spec: { ...spec, bindMounts: bindMounts.map((b) => ({ ...b, local: true })) }, ...start };
}

/**
 * Starts the planned sandbox. When that fails and a probe answer came from the cache, the
 * answer may be stale: it is removed from the cache, the failed sandbox's folder too, and
 * the backend is chosen again with real probes and started once more. So a stale entry
 * costs one more probe and ends where a run without the cache would have ended.
 */
export async function startPlanned(planned: PlannedSandbox, config: AgentdConfig, logger: Logger, cache: FileProbeCache | undefined, signal: AbortSignal): Promise<SandboxHandle> {
  try {
    return await planned.backend.start(planned.spec, { signal, hostPaths: hostPathRulesFrom(config) });
  } catch (err) {
    // A refused request (a host path outside the roots...) is no stale probe: it is refused again, so say it once.
    const code = err instanceof AgentdError ? err.code : undefined;
    if (cache === undefined || cache.answered().length === 0 || signal.aborted || code === 'POLICY_DENIED' || code === 'INVALID_ARGUMENT') {
      // Nothing runs: the folder (and a disk volume) the failed start made go too.
      await removeSandboxDirs(planned.spec.dirs).catch(() => undefined);
      throw err;
    }
    logger.warn({ cache: cache.dir, entries: cache.answered() }, `backend '${planned.backend.name}' failed to start after a probe result taken from the cache (${toAgentdError(err).message}); forgetting that result and probing again`);
    await cache.forgetAnswered();
    await removeSandboxDirs(planned.spec.dirs).catch(() => undefined);
    // Chosen again with real probes, with what was asked (mounts, image, template) under a new id.
    const again = await planSandbox(config, logger, undefined, planned.options);
    return again.backend.start(again.spec, { signal, hostPaths: hostPathRulesFrom(config) });
  }
}
