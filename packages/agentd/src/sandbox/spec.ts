import { z } from 'zod';
import { AgentdError } from '../core/errors.js';
import { sandboxDirs } from '../isolation/dirs.js';
import { parsePublish } from '../network/ports.js';
import type { NetworkMode, ProfileName, SandboxLimits, SandboxSpec } from '../isolation/types.js';

const HostPath = z.string().min(1).max(4096).refine((p) => p.startsWith('/') && !p.includes('\0'), 'must be an absolute path without NUL bytes');

/** The body of `POST /v1/sandboxes`: every field optional, `{}` = the profile's defaults. */
export const SandboxCreate = z
  .object({
    backend: z.string().min(1).max(64).optional().describe("Isolation backend name or alias (default: the profile's backend)."),
    profile: z.enum(['workstation', 'server', 'paranoid', 'custom']).optional().describe("Security profile (default: the daemon's profile)."),
    env: z.record(z.string().regex(/^[^=\0]+$/), z.string().max(128 * 1024)).optional().describe('Base environment of every exec, over the profile defaults.'),
    workdir: z.string().min(1).max(4096).optional().describe("Default working directory in the sandbox's view."),
    network: z.enum(['none', 'allowlist', 'host']).optional().describe("Network mode (default: the profile's)."),
    limits: z
      .object({
        memory_bytes: z.number().int().min(1 << 20).optional().describe('Memory limit (cgroup).'),
        pids: z.number().int().min(1).max(1 << 22).optional().describe('Max processes/threads (cgroup).'),
        cpus: z.number().min(0.01).max(1024).optional().describe('CPU quota in cores.'),
        open_files: z.number().int().min(16).max(1 << 20).optional().describe('RLIMIT_NOFILE.'),
        disk_bytes: z.number().int().min(16 << 20).max(2 ** 50).optional().describe("Size of the sandbox's own file system for workspace, home and tmp (namespace backend, root daemon)."),
      })
      .strict()
      .optional()
      .describe("Resource limits over the profile's."),
    labels: z.record(z.string().min(1).max(128), z.string().max(256)).optional().describe('Free-form labels (filterable in list).'),
    ttl_ms: z.number().int().min(1000).max(30 * 24 * 3600 * 1000).optional().describe('Destroy the sandbox this long after creation (default: the profile TTL, or none).'),
    allowed_paths_ro: z.array(HostPath).max(256).optional().describe('Host paths visible read-only (same path inside). Admin role only (else POLICY_DENIED); each must resolve under sandbox.host_path_roots, away from the agentd home (see docs/api.md, "Host paths").'),
    allowed_paths_rw: z.array(HostPath).max(256).optional().describe('Host paths visible read-write (same path inside). Admin role only, same rules as allowed_paths_ro.'),
    bind_mounts: z
      .array(z.object({ source: HostPath.describe('Host path (same rules as allowed_paths_ro).'), target: HostPath.describe("Where the sandbox sees it (never over its own /, /proc, /dev, /home/agent, /tmp; /workspace itself may be replaced)."), readonly: z.boolean().describe('Mount read-only (EROFS inside).') }).strict())
      .max(256)
      .optional()
      .describe("Host folders mounted at a target path (the CLI's -v and --mount-cwd). Admin role only, same rules as allowed_paths_ro; a local caller's may also lie under sandbox.local_mount_roots. Under a root daemon owner-preserving: the folder's owner is the sandbox's user inside and owns what it writes."),
    template: z.string().min(1).max(64).optional().describe('A template of the config (`templates.NAME`): its image and defaults, under the fields of this request (docs/images.md).'),
    image: z.string().min(1).max(128).optional().describe("Name (or sha256: digest) of a stored image whose root file system the sandbox gets, with its own writable layer (namespace backend, root daemon; docs/images.md). Default: the host's system folders, read-only."),
    deny_paths: z.array(HostPath).max(256).optional().describe("Paths masked inside the sandbox, over the config's sandbox.deny_paths (anyone may send it: it only hides more)."),
    egress: z
      .object({
        allow: z.array(z.string().min(1).max(300)).max(512).optional().describe("Hosts this sandbox may reach (network 'allowlist'): 'pypi.org', '*.npmjs.org', 'host:443', IP ranges '10.0.0.0/8:5432'. Each must lie within the config's network.allow (else POLICY_DENIED). undefined: the config's list."),
        deny: z.array(z.string().min(1).max(300)).max(512).optional().describe('Hosts this sandbox may never reach, over the config\'s network.deny (deny wins).'),
      })
      .strict()
      .optional()
      .describe("The sandbox's own egress rules (docs/network.md); they only narrow the config's."),
    ports: z
      .array(z.string().min(1).max(64))
      .max(64)
      .optional()
      .describe("Ports of the sandbox exposed on the host, docker style: '8080' (a free host port on 127.0.0.1), '9000:8080', '127.0.0.1:9000:8080'."),
  })
  .strict();
export type SandboxCreate = z.infer<typeof SandboxCreate>;

/** A template of the config (config/sections.ts `Template`). */
export interface SandboxTemplate {
  image: string;
  network?: NetworkMode;
  env?: Record<string, string>;
  workdir?: string;
  limits?: { memory_bytes?: number; pids?: number; cpus?: number; disk_bytes?: number };
  ttl_ms?: number;
  start_command?: string;
}

/**
 * The request a template stands for: the template's image and defaults, the request's own
 * fields over them. NOT_FOUND for a template the config does not have.
 */
export function applyTemplate(req: SandboxCreate, templates: Readonly<Record<string, SandboxTemplate>> | undefined): { req: SandboxCreate; template?: SandboxTemplate } {
  if (req.template === undefined) return { req };
  const t = templates?.[req.template];
  if (t === undefined) {
    throw new AgentdError('NOT_FOUND', `no template '${req.template}' (the config's [templates.NAME] sections: ${Object.keys(templates ?? {}).join(', ') || 'none'})`, { details: { template: req.template } });
  }
  const limits = { ...t.limits, ...req.limits };
  const env = { ...t.env, ...req.env };
  const workdir = req.workdir ?? t.workdir;
  const network = req.network ?? t.network;
  const ttl = req.ttl_ms ?? t.ttl_ms;
  return {
    template: t,
    req: {
      ...req,
      image: req.image ?? t.image,
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
      ...(Object.keys(env).length > 0 ? { env } : {}),
      ...(workdir === undefined ? {} : { workdir }),
      ...(network === undefined ? {} : { network }),
      ...(ttl === undefined ? {} : { ttl_ms: ttl }),
    },
  };
}

/** What a profile gives a new sandbox when the request says nothing (derived from the config). */
export interface ProfileDefaults {
  backend: string;
  network: NetworkMode;
  limits: SandboxLimits;
  env: Record<string, string>;
  workdir?: string;
  /** undefined = no TTL. */
  ttlMs?: number;
}

/** True when the request only names labels/ttl/profile/backend: a warm-pool sandbox can serve it. */
export function isPlainCreate(req: SandboxCreate): boolean {
  const custom: Array<keyof SandboxCreate> = ['env', 'workdir', 'network', 'limits', 'allowed_paths_ro', 'allowed_paths_rw', 'bind_mounts', 'deny_paths', 'egress', 'ports', 'image', 'template'];
  return custom.every((k) => req[k] === undefined);
}

/** The limits a request names, in the spec's terms (only those given). */
export function requestLimits(l: SandboxCreate['limits']): SandboxLimits {
  const out: SandboxLimits = {};
  if (l?.memory_bytes !== undefined) out.memoryBytes = l.memory_bytes;
  if (l?.pids !== undefined) out.pids = l.pids;
  if (l?.cpus !== undefined) out.cpus = l.cpus;
  if (l?.open_files !== undefined) out.openFiles = l.open_files;
  if (l?.disk_bytes !== undefined) out.diskBytes = l.disk_bytes;
  return out;
}

export function buildSpec(id: string, home: string, profile: ProfileName, defaults: ProfileDefaults, req: SandboxCreate, image?: SandboxSpec['image']): SandboxSpec {
  const network = req.network ?? defaults.network;
  if (network === 'host' && (profile === 'server' || profile === 'paranoid')) {
    throw new AgentdError('POLICY_DENIED', `network 'host' is not allowed under profile '${profile}'`, { details: { profile, network } });
  }
  const limits: SandboxLimits = { ...defaults.limits, ...requestLimits(req.limits) };
  const workdir = req.workdir ?? defaults.workdir;
  return {
    id,
    profile,
    dirs: sandboxDirs(home, id, { volume: limits.diskBytes !== undefined }),
    env: { ...defaults.env, ...req.env },
    ...(workdir === undefined ? {} : { workdir }),
    network,
    limits,
    allowedPathsRo: req.allowed_paths_ro ?? [],
    allowedPathsRw: req.allowed_paths_rw ?? [],
    bindMounts: req.bind_mounts ?? [],
    denyPaths: req.deny_paths ?? [],
    labels: req.labels ?? {},
    ...(req.ports === undefined ? {} : { ports: req.ports.map(parsePublish) }),
    ...(req.egress === undefined ? {} : { egress: { ...(req.egress.allow ? { allow: req.egress.allow } : {}), ...(req.egress.deny ? { deny: req.egress.deny } : {}) } }),
    ...(image === undefined ? {} : { image }),
  };
}
