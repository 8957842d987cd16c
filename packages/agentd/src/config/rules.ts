import type { z } from 'zod';
import { BUILTIN_BACKENDS, findBuiltinBackend } from '../isolation/names.js';
import { RULE_PARAM } from './issues.js';
import { checkResolvedHostPath, hostPathRootProblem } from '../isolation/host-paths.js';
import { AgentdError } from '../core/errors.js';
import { absolutePathProblem, isSameOrBelow } from './paths.js';
import { PROFILE_RULES } from './profiles.js';
import type { ConfigShape } from './sections.js';

type Ctx = z.RefinementCtx;

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
type Path = (string | number)[];

const fail = (ctx: Ctx, path: Path, message: string): void => ctx.addIssue({ code: 'custom', path, message, params: { [RULE_PARAM]: true } });

function kernelBackendHint(): string {
  const ns = BUILTIN_BACKENDS.find((b) => b.name === 'namespace');
  return ns ? `'${ns.name}' (${ns.aliases[0] ?? ns.name})` : 'a kernel-isolating backend';
}

/**
 * The rules a profile imposes and the cross-section security rules, checked on the merged
 * configuration (preset + file + env + overrides). A preset value can never break a rule of
 * its own profile, so every issue here points at something the user set.
 */
export function checkConfigRules(cfg: ConfigShape, ctx: Ctx): void {
  const profile = cfg.profile;
  const rules = PROFILE_RULES[profile];

  checkIsolation(cfg, ctx);
  checkAuth(cfg, ctx);

  const network = cfg.sandbox.network;
  if (!rules.networks.includes(network)) {
    const why =
      network === 'host'
        ? "a sandbox on the host's network reaches every local service and the cloud metadata endpoint"
        : 'egress through the proxy is still network access';
    fail(ctx, ['sandbox', 'network'], `profile '${profile}' allows network ${rules.networks.map((n) => `'${n}'`).join(' or ')} only, not '${network}': ${why}; use profile 'workstation' for host networking`);
  }
  if (rules.freshPerRequest && !cfg.sandbox.fresh_per_request) {
    fail(ctx, ['sandbox', 'fresh_per_request'], `profile '${profile}' requires a fresh sandbox per request (state left by one request must never reach the next); remove this key or use profile 'server'`);
  }

  checkHostPaths(cfg, ctx);

  const socketBytes = Buffer.byteLength(cfg.adapters.unix.path);
  if (cfg.adapters.unix.enabled && socketBytes > MAX_SOCKET_PATH_BYTES) {
    fail(ctx, ['adapters', 'unix', 'path'], `is ${socketBytes} bytes long; a Unix socket path may have at most ${MAX_SOCKET_PATH_BYTES} (set a shorter adapters.unix.path or home)`);
  }

  if (cfg.pool.enabled && cfg.pool.max_warm > cfg.sandbox.max_sandboxes) {
    fail(ctx, ['pool', 'max_warm'], `must not exceed sandbox.max_sandboxes (${cfg.sandbox.max_sandboxes}): idle pool sandboxes would use up every slot`);
  }
}

/**
 * The host-path rules that need no file system, on the config's own paths: roots are never
 * `/` nor system trees nor inside the home; each allowed path lies under a root and away from
 * the home and the socket. The rest (symlinks) is checked again at every sandbox start.
 */
function checkHostPaths(cfg: ConfigShape, ctx: Ctx): void {
  const roots = cfg.sandbox.host_path_roots ?? [];
  for (const key of ['host_path_roots', 'local_mount_roots'] as const) {
    (cfg.sandbox[key] ?? []).forEach((r, i) => {
      if (absolutePathProblem(r) !== undefined) return;
      const problem = hostPathRootProblem(r) ?? (isSameOrBelow(r, cfg.home) ? `lies inside the agentd home "${cfg.home}" (the daemon's state and every sandbox's files)` : undefined);
      if (problem !== undefined) fail(ctx, ['sandbox', key, i], `"${r}": ${problem}`);
    });
  }
  const protectedPaths = [cfg.home, ...(cfg.adapters.unix.enabled ? [cfg.adapters.unix.path] : [])];
  for (const key of ['allowed_paths_ro', 'allowed_paths_rw'] as const) {
    cfg.sandbox[key].forEach((p, i) => {
      if (absolutePathProblem(p) !== undefined) return; // reported by the shape
      try {
        checkResolvedHostPath(p, p, { roots, protectedPaths }, `sandbox.${key}`);
      } catch (err) {
        if (!(err instanceof AgentdError)) throw err;
        fail(ctx, ['sandbox', key, i], `${err.message.replace(/^[^:]*: /, '')}${roots.length === 0 ? ' (add its folder to sandbox.host_path_roots)' : ''}`);
      }
    });
  }
}

function checkIsolation(cfg: ConfigShape, ctx: Ctx): void {
  const { profile, isolation } = cfg;
  const rules = PROFILE_RULES[profile];
  if (rules.requireKernel && !isolation.require_kernel) {
    fail(ctx, ['isolation', 'require_kernel'], `profile '${profile}' requires kernel isolation; require_kernel = false is not allowed (use profile 'workstation' or 'custom' to run without it)`);
  }
  if (isolation.allow_host_direct && isolation.require_kernel) {
    fail(ctx, ['isolation', 'allow_host_direct'], `cannot be true while ${rules.requireKernel ? `profile '${profile}'` : 'isolation.require_kernel'} requires kernel isolation: host-direct would be refused anyway`);
  }
  const builtin = isolation.backend === 'auto' ? undefined : findBuiltinBackend(isolation.backend);
  if (builtin && !builtin.implemented) {
    fail(ctx, ['isolation', 'backend'], `backend '${builtin.name}' (${builtin.aliases.join(', ')}) is not implemented yet; use ${kernelBackendHint()} or 'host-direct'`);
  } else if (builtin && builtin.isolation === 'none' && isolation.require_kernel) {
    const named = builtin.name === isolation.backend ? `'${builtin.name}'` : `'${isolation.backend}' (${builtin.name})`;
    const who = rules.requireKernel ? `profile '${profile}'` : 'isolation.require_kernel';
    fail(ctx, ['isolation', 'backend'], `${who} requires kernel isolation, but backend ${named} provides none; use backend ${kernelBackendHint()} or profile 'workstation'`);
  }
  const seen = new Map<string, string>();
  for (const key of Object.keys(isolation.backends)) {
    const canonical = findBuiltinBackend(key)?.name ?? key;
    const earlier = seen.get(canonical);
    if (earlier !== undefined) {
      fail(ctx, ['isolation', 'backends', key], `'${key}' and '${earlier}' name the same backend '${canonical}'; keep one table so its options are unambiguous`);
    }
    seen.set(canonical, key);
  }
}

const SINGLETON_PROVIDERS = new Set(['api-key', 'allow-all', 'signature', 'peer-creds', 'local-token']);

function checkAuth(cfg: ConfigShape, ctx: Ctx): void {
  const { profile } = cfg;
  const rules = PROFILE_RULES[profile];
  const providers = cfg.auth.providers;
  if (providers.length === 0) {
    const implied = profile === 'custom' ? " (profile 'custom' implies none)" : '';
    fail(ctx, ['auth', 'providers'], `no provider: no caller could ever authenticate; list at least one${implied}, e.g. [{ type = "api-key" }]`);
  }
  const seen = new Set<string>();
  providers.forEach((p, i) => {
    if (SINGLETON_PROVIDERS.has(p.type) && seen.has(p.type)) {
      fail(ctx, ['auth', 'providers', i], `'${p.type}' is listed twice; the second one could never decide`);
    }
    seen.add(p.type);
    if (p.type === 'allow-all' && !rules.allowAllowAllAuth) {
      fail(ctx, ['auth', 'providers', i], `profile '${profile}' requires a real auth provider: allow-all accepts every caller without credentials; use api-key, jwt, signature or peer-creds`);
    }
  });
  if (!seen.has('allow-all')) return;
  // allow-all never serves TCP (a sandbox with the host's network reaches loopback too): it
  // serves the Unix socket only, and only an owner-only one, so the kernel admits nobody but
  // the daemon's user and root.
  const unix = cfg.adapters.unix;
  const index = providers.findIndex((p) => p.type === 'allow-all');
  if (!unix.enabled) {
    fail(ctx, ['auth', 'providers', index], "allow-all only serves the Unix socket (never TCP), and adapters.unix is disabled; enable it with mode 0o600, or use local-token / peer-creds / api-key");
  } else if ((unix.mode & 0o077) !== 0) {
    fail(ctx, ['adapters', 'unix', 'mode'], `0o${unix.mode.toString(8)} lets other local users connect, and allow-all would make them admin; with allow-all the socket must be owner-only (0o600), or use peer-creds auth`);
  }
}
