/** Public shapes of the SDK (camelCase); wire.ts converts the daemon's snake_case JSON. */

export type SandboxState = 'creating' | 'running' | 'suspended' | 'stopped' | 'destroying' | 'destroyed' | 'dead';
export type NetworkMode = 'none' | 'allowlist' | 'host';
export type Profile = 'workstation' | 'server' | 'paranoid' | 'custom';

export interface SandboxLimits {
  memoryBytes?: number;
  pids?: number;
  cpus?: number;
  openFiles?: number;
}

export interface BindMount {
  source: string;
  target: string;
  readonly: boolean;
}

/** What a new sandbox should look like; `{}` gives the profile's defaults. */
export interface SandboxSpec {
  backend?: string;
  /** A Profile name (workstation, server, paranoid, custom); the daemon's default when absent. */
  profile?: string;
  env?: Record<string, string>;
  workdir?: string;
  network?: NetworkMode;
  limits?: SandboxLimits;
  labels?: Record<string, string>;
  ttlMs?: number;
  /** Host paths (with allowedPathsRw, bindMounts): admin-role callers only, under the daemon's `sandbox.host_path_roots` (else POLICY_DENIED). */
  allowedPathsRo?: string[];
  allowedPathsRw?: string[];
  bindMounts?: BindMount[];
  /** Paths masked inside the sandbox, over the daemon's own `sandbox.deny_paths` (anyone may send it). */
  denyPaths?: string[];
  /** Egress rules of a network 'allowlist' sandbox ('pypi.org', '*.npmjs.org', 'host:443'); they only narrow the daemon's `network.allow`. */
  egress?: { allow?: string[]; deny?: string[] };
  /** Ports exposed on the host, docker style: '8080', '9000:8080', '127.0.0.1:9000:8080'. */
  ports?: string[];
  /** A stored image (name or sha256: digest) as the sandbox's root file system, with its own writable layer (namespace backend, root daemon). */
  image?: string;
  /** A template of the daemon's config (`templates.NAME`): its image and defaults, under this spec's fields. */
  template?: string;
}

/** A stored image (GET /v1/images). */
export interface ImageInfo {
  name?: string;
  digest: string;
  created_at: string;
  size_bytes: number;
  file_count: number;
  dir_count: number;
  source: Record<string, unknown>;
  config: { env?: Record<string, string>; cmd?: string[]; workdir?: string };
  seconds?: number;
}

export interface SandboxUsage {
  memoryBytes: number;
  memoryPeakBytes: number;
  cpuMs: number;
  pids: number;
}

export interface SandboxInfo {
  id: string;
  state: SandboxState;
  backend: string;
  profile: string;
  tenant: string;
  labels: Record<string, string>;
  createdAtMs: number;
  expiresAtMs?: number;
  /** Why the sandbox stopped or died, when the daemon knows. */
  lastError?: string;
  /** Only from `getSandbox`/`refresh` of a running sandbox whose backend can measure it. */
  usage?: SandboxUsage;
}

export interface SnapshotInfo {
  id: string;
  sandboxId: string;
  name?: string;
  createdAtMs: number;
  sizeBytes: number;
}

export type SessionState = 'attached' | 'detached' | 'suspended' | 'closed';

export interface SessionInfo {
  id: string;
  sandboxId: string;
  state: SessionState;
  createdAtMs: number;
  lastActiveMs: number;
  idleTimeoutMs: number;
  detachTimeoutMs: number;
  suspendAfterMs: number;
}

export interface ResourceUsage {
  maxMemoryBytes?: number;
  cpuUserMs?: number;
  cpuSystemMs?: number;
  outputBytes?: number;
}

/** A finished command. A non-zero exit is a result, not an exception (see `execOrThrow`). */
export interface ExecResult {
  /** The command's id (`sandbox.commands.connect(id)`), for an exec on a named sandbox. */
  commandId?: string;
  exitCode: number | null;
  signal: string | null;
  /** stdout decoded as UTF-8 (invalid sequences become U+FFFD); `stdoutBytes` has the exact bytes. */
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
  stderrBytes: Uint8Array;
  durationMs: number;
  timedOut: boolean;
  canceled: boolean;
  outputTruncated: boolean;
  resourceLimited: boolean;
  resourceUsage: ResourceUsage;
}

/** One typed piece of a streamed command. */
export type ExecChunk =
  | { type: 'start'; pid: number }
  | { type: 'stdout'; text: string; bytes: Uint8Array }
  | { type: 'stderr'; text: string; bytes: Uint8Array }
  | { type: 'exit'; result: ExecResult };

export type FileKind = 'file' | 'directory' | 'symlink' | 'other' | (string & {});

export interface FileEntry {
  name: string;
  kind: FileKind;
  mode: number;
  size: number;
  mtimeMs: number;
}

export interface FileStat {
  kind: FileKind;
  mode: number;
  size: number;
  mtimeMs: number;
  uid: number;
  gid: number;
  linkTarget?: string;
}

export interface WriteResult {
  bytesWritten: number;
  fileSize: number;
}

export interface CapabilityInfo {
  name: string;
  version: string;
  description: string;
  paramsSchema: unknown;
}

/** A registered Ed25519 public key of the daemon's `signature` auth provider. */
export interface SigningKeyInfo {
  /** The key id requests carry in X-Agentd-Key-Id. */
  id: string;
  /** The public key as registered (PEM, or the raw 32 bytes in base64). */
  publicKey: string;
  subject: string;
  tenant: string;
  roles: string[];
  createdAtMs?: number;
  revokedAtMs?: number | null;
  /** Anything else the daemon returned for this key. */
  extra: Record<string, unknown>;
}

export interface ApiKeyInfo {
  id: string;
  /** The public prefix of the key (how it can be recognised without the secret). */
  prefix?: string;
  subject: string;
  tenant: string;
  roles: string[];
  createdAtMs?: number;
  revokedAtMs?: number | null;
  lastUsedMs?: number | null;
  /** Only in the answer to `createKey`: the secret, shown once. */
  secret?: string;
  /** Anything else the daemon returned for this key. */
  extra: Record<string, unknown>;
}

/** One audit record: who did what, where, with which result (never the secrets). */
export interface AuditEvent {
  id: number;
  tsMs: number;
  subject: string | null;
  tenant: string | null;
  action: string;
  capability: string | null;
  sandboxId: string | null;
  intentId: string | null;
  status: string;
  code: string | null;
  durationMs: number | null;
  details: Record<string, unknown>;
}
