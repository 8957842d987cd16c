/** The daemon's snake_case JSON shapes and their conversion to the SDK's public types. */
import { base64ToBytes } from './base64.js';
import { ProtocolError } from './errors.js';
import type {
  ApiKeyInfo,
  SigningKeyInfo,
  AuditEvent,
  CapabilityInfo,
  ExecResult,
  FileEntry,
  FileStat,
  SandboxInfo,
  SandboxSpec,
  SessionInfo,
  SnapshotInfo,
  WriteResult,
} from './types.js';

export type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(what: string, value: unknown): never {
  throw new ProtocolError('PROTOCOL_ERROR', `malformed ${what} in the daemon's answer`, { details: { value } });
}

function record(value: unknown, what: string): Json {
  return isRecord(value) ? value : fail(what, value);
}

function str(obj: Json, key: string, what: string): string {
  const v = obj[key];
  return typeof v === 'string' ? v : fail(`${what}.${key}`, v);
}

function num(obj: Json, key: string, what: string): number {
  const v = obj[key];
  return typeof v === 'number' ? v : fail(`${what}.${key}`, v);
}

function optNum(obj: Json, key: string): number | undefined {
  const v = obj[key];
  return typeof v === 'number' ? v : undefined;
}

function optStr(obj: Json, key: string): string | undefined {
  const v = obj[key];
  return typeof v === 'string' ? v : undefined;
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

function dropUndefined(obj: Json): Json {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

export function sandboxSpecToWire(spec: SandboxSpec): Json {
  return dropUndefined({
    backend: spec.backend,
    profile: spec.profile,
    env: spec.env,
    workdir: spec.workdir,
    network: spec.network,
    limits:
      spec.limits === undefined
        ? undefined
        : dropUndefined({
            memory_bytes: spec.limits.memoryBytes,
            pids: spec.limits.pids,
            cpus: spec.limits.cpus,
            open_files: spec.limits.openFiles,
          }),
    labels: spec.labels,
    ttl_ms: spec.ttlMs,
    allowed_paths_ro: spec.allowedPathsRo,
    allowed_paths_rw: spec.allowedPathsRw,
    bind_mounts: spec.bindMounts,
    deny_paths: spec.denyPaths,
    egress: spec.egress === undefined ? undefined : dropUndefined({ allow: spec.egress.allow, deny: spec.egress.deny }),
    ports: spec.ports,
    image: spec.image,
    template: spec.template,
  });
}

export function sandboxFromWire(value: unknown): SandboxInfo {
  const o = record(value, 'sandbox');
  const usage = isRecord(o.usage) ? o.usage : undefined;
  const expiresAtMs = optNum(o, 'expires_at_ms');
  const lastError = optStr(o, 'last_error');
  return {
    id: str(o, 'id', 'sandbox'),
    state: str(o, 'state', 'sandbox') as SandboxInfo['state'],
    backend: optStr(o, 'backend') ?? '',
    profile: optStr(o, 'profile') ?? '',
    tenant: optStr(o, 'tenant') ?? '',
    labels: stringMap(o.labels),
    createdAtMs: optNum(o, 'created_at_ms') ?? 0,
    ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
    ...(lastError === undefined ? {} : { lastError }),
    ...(usage === undefined
      ? {}
      : {
          usage: {
            memoryBytes: optNum(usage, 'memory_bytes') ?? 0,
            memoryPeakBytes: optNum(usage, 'memory_peak_bytes') ?? 0,
            cpuMs: optNum(usage, 'cpu_ms') ?? 0,
            pids: optNum(usage, 'pids') ?? 0,
          },
        }),
  };
}

export function snapshotFromWire(value: unknown): SnapshotInfo {
  const o = record(value, 'snapshot');
  const name = optStr(o, 'name');
  return {
    id: str(o, 'id', 'snapshot'),
    sandboxId: optStr(o, 'sandbox_id') ?? '',
    ...(name === undefined ? {} : { name }),
    createdAtMs: optNum(o, 'created_at_ms') ?? 0,
    sizeBytes: optNum(o, 'size_bytes') ?? 0,
  };
}

export function sessionFromWire(value: unknown): SessionInfo {
  const o = record(value, 'session');
  return {
    id: str(o, 'id', 'session'),
    sandboxId: optStr(o, 'sandbox_id') ?? '',
    state: str(o, 'state', 'session') as SessionInfo['state'],
    createdAtMs: optNum(o, 'created_at_ms') ?? 0,
    lastActiveMs: optNum(o, 'last_active_ms') ?? 0,
    idleTimeoutMs: optNum(o, 'idle_timeout_ms') ?? 0,
    detachTimeoutMs: optNum(o, 'detach_timeout_ms') ?? 0,
    suspendAfterMs: optNum(o, 'suspend_after_ms') ?? 0,
  };
}

const decoder = (): TextDecoder => new TextDecoder('utf-8');

function outputBytes(o: Json, key: 'stdout' | 'stderr'): Uint8Array {
  const v = o[key];
  if (v === undefined || v === null) return new Uint8Array(0);
  if (typeof v !== 'string') fail(`exec result.${key}`, v);
  return o.encoding === 'base64' ? base64ToBytes(v) : new TextEncoder().encode(v);
}

/** Output computed on first read, then kept. */
function lazyOutput(bytesOf: () => Uint8Array): { bytes: () => Uint8Array; text: () => string } {
  let bytes: Uint8Array | undefined;
  let text: string | undefined;
  return {
    bytes: () => (bytes ??= bytesOf()),
    text: () => (text ??= decoder().decode((bytes ??= bytesOf()))),
  };
}

/**
 * Builds an ExecResult from the daemon's JSON answer or from the NDJSON `exit` frame. In the
 * stream case the output comes from the collected chunks, joined and decoded only when the
 * result's stdout/stderr (or their bytes) are first read: a streamed command may have sent
 * hundreds of MiB that its consumer already handled chunk by chunk.
 */
export function execResultFromWire(value: unknown, streamed?: { stdout: () => Uint8Array; stderr: () => Uint8Array }): ExecResult {
  const o = record(value, 'exec result');
  const out = lazyOutput(streamed?.stdout ?? (() => outputBytes(o, 'stdout')));
  const err = lazyOutput(streamed?.stderr ?? (() => outputBytes(o, 'stderr')));
  if (streamed === undefined) {
    // A JSON answer: validate its output now, so a malformed one fails here.
    out.bytes();
    err.bytes();
  }
  const exit = o.exit_code;
  const signal = o.signal;
  const usage = isRecord(o.resource_usage) ? o.resource_usage : {};
  return {
    ...(typeof o.command_id === 'string' ? { commandId: o.command_id } : {}),
    exitCode: typeof exit === 'number' ? exit : null,
    signal: typeof signal === 'string' ? signal : null,
    get stdout(): string {
      return out.text();
    },
    get stderr(): string {
      return err.text();
    },
    get stdoutBytes(): Uint8Array {
      return out.bytes();
    },
    get stderrBytes(): Uint8Array {
      return err.bytes();
    },
    durationMs: optNum(o, 'duration_ms') ?? 0,
    timedOut: o.timed_out === true,
    canceled: o.canceled === true,
    outputTruncated: o.output_truncated === true,
    resourceLimited: o.resource_limited === true,
    resourceUsage: dropUndefined({
      maxMemoryBytes: optNum(usage, 'max_memory_bytes'),
      cpuUserMs: optNum(usage, 'cpu_user_ms'),
      cpuSystemMs: optNum(usage, 'cpu_system_ms'),
      outputBytes: optNum(usage, 'output_bytes'),
    }),
  };
}

export function fileEntryFromWire(value: unknown): FileEntry {
  const o = record(value, 'file entry');
  return {
    name: str(o, 'name', 'file entry'),
    kind: str(o, 'kind', 'file entry'),
    mode: optNum(o, 'mode') ?? 0,
    size: optNum(o, 'size') ?? 0,
    mtimeMs: optNum(o, 'mtime_ms') ?? 0,
  };
}

export function fileStatFromWire(value: unknown): FileStat {
  const o = record(value, 'file stat');
  const linkTarget = optStr(o, 'link_target');
  return {
    kind: str(o, 'kind', 'file stat'),
    mode: optNum(o, 'mode') ?? 0,
    size: optNum(o, 'size') ?? 0,
    mtimeMs: optNum(o, 'mtime_ms') ?? 0,
    uid: optNum(o, 'uid') ?? 0,
    gid: optNum(o, 'gid') ?? 0,
    ...(linkTarget === undefined ? {} : { linkTarget }),
  };
}

export function writeResultFromWire(value: unknown): WriteResult {
  const o = record(value, 'write result');
  return { bytesWritten: num(o, 'bytes_written', 'write result'), fileSize: num(o, 'file_size', 'write result') };
}

export function capabilityFromWire(value: unknown): CapabilityInfo {
  const o = record(value, 'capability');
  return {
    name: str(o, 'name', 'capability'),
    version: optStr(o, 'version') ?? '',
    description: optStr(o, 'description') ?? '',
    paramsSchema: o.params_schema,
  };
}

const nullableNum = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const nullableStr = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function apiKeyFromWire(value: unknown): ApiKeyInfo {
  const o = record(value, 'api key');
  const { id, prefix, subject, tenant, roles, created_at_ms, revoked_at_ms, last_used_ms, secret, key, ...extra } = o;
  const shown = typeof secret === 'string' ? secret : typeof key === 'string' ? key : undefined;
  return {
    id: typeof id === 'string' ? id : fail('api key.id', id),
    ...(typeof prefix === 'string' ? { prefix } : {}),
    subject: typeof subject === 'string' ? subject : '',
    tenant: typeof tenant === 'string' ? tenant : '',
    roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
    ...(typeof created_at_ms === 'number' ? { createdAtMs: created_at_ms } : {}),
    ...(revoked_at_ms === undefined ? {} : { revokedAtMs: nullableNum(revoked_at_ms) }),
    ...(last_used_ms === undefined ? {} : { lastUsedMs: nullableNum(last_used_ms) }),
    ...(shown === undefined ? {} : { secret: shown }),
    extra,
  };
}

export function signingKeyFromWire(value: unknown): SigningKeyInfo {
  const o = record(value, 'signing key');
  const { id, public_key, subject, tenant, roles, created_at_ms, revoked_at_ms, ...extra } = o;
  return {
    id: typeof id === 'string' ? id : fail('signing key.id', id),
    publicKey: typeof public_key === 'string' ? public_key : '',
    subject: typeof subject === 'string' ? subject : '',
    tenant: typeof tenant === 'string' ? tenant : '',
    roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
    ...(typeof created_at_ms === 'number' ? { createdAtMs: created_at_ms } : {}),
    ...(revoked_at_ms === undefined ? {} : { revokedAtMs: nullableNum(revoked_at_ms) }),
    extra,
  };
}

export function auditEventFromWire(value: unknown): AuditEvent {
  const o = record(value, 'audit event');
  return {
    id: optNum(o, 'id') ?? 0,
    tsMs: optNum(o, 'ts_ms') ?? 0,
    subject: nullableStr(o.subject),
    tenant: nullableStr(o.tenant),
    action: optStr(o, 'action') ?? '',
    capability: nullableStr(o.capability),
    sandboxId: nullableStr(o.sandbox_id),
    intentId: nullableStr(o.intent_id),
    status: optStr(o, 'status') ?? '',
    code: nullableStr(o.code),
    durationMs: nullableNum(o.duration_ms),
    details: isRecord(o.details) ? o.details : {},
  };
}

/** Reads `{<key>: [...]}` from a list answer. */
export function listFromWire<T>(value: unknown, key: string, item: (v: unknown) => T): T[] {
  const o = record(value, `${key} list`);
  const list = o[key];
  if (!Array.isArray(list)) fail(`${key} list`, list);
  return list.map(item);
}
