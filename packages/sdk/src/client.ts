/** The daemon-wide API: sandboxes, snapshots, sessions, keys, audit, capabilities, intents. */
import { runExec, startExecStream, type Command, type ExecOptions, type ExecStream } from './exec.js';
import { SandboxFiles, type CallOptions } from './files.js';
import type { ClientOptions } from './options.js';
import { HttpTransport } from './transport.js';
import type {
  ApiKeyInfo,
  AuditEvent,
  CapabilityInfo,
  ExecResult,
  ImageInfo,
  SandboxInfo,
  SandboxSpec,
  SandboxState,
  SessionInfo,
  SigningKeyInfo,
  SnapshotInfo,
} from './types.js';
import {
  apiKeyFromWire,
  auditEventFromWire,
  capabilityFromWire,
  isRecord,
  listFromWire,
  sandboxFromWire,
  sandboxSpecToWire,
  sessionFromWire,
  signingKeyFromWire,
  snapshotFromWire,
  type Json,
} from './wire.js';

export interface ListSandboxesOptions extends CallOptions {
  state?: SandboxState;
  backend?: string;
  /** Only sandboxes carrying all these labels. */
  labels?: Record<string, string>;
}

export interface CreateSessionOptions extends CallOptions {
  /** Spec of a new sandbox for the session (ignored when sandboxId is given). */
  sandbox?: SandboxSpec;
  sandboxId?: string;
  idleTimeoutMs?: number;
  detachTimeoutMs?: number;
  suspendAfterMs?: number;
}

export interface CreateKeyOptions extends CallOptions {
  subject: string;
  tenant: string;
  roles: string[];
}

export interface RegisterSigningKeyOptions extends CreateKeyOptions {
  /** The Ed25519 public key: PEM (SPKI) or the raw 32 bytes in base64. Never the private key. */
  publicKey: string;
  /** Key id to register it under; absent: the daemon picks one (`sk_<hex>`). */
  id?: string;
}

export interface IntentOptions extends CallOptions {
  idempotencyKey?: string;
}

const enc = encodeURIComponent;

function dropUndefined(obj: Json): Json {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

/**
 * A connection to one daemon. `Sandbox.create/connect/list` build one from their options;
 * pass `client` to them to share one.
 */
export class AgentdClient {
  readonly transport: HttpTransport;

  constructor(options: ClientOptions = {}) {
    this.transport = new HttpTransport(options);
  }

  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /** Runs a command in sandbox `id` (no lookup first; see Sandbox for the handle). */
  async exec(id: string, command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    return runExec(this.transport, id, command, options);
  }

  /** Streams a command in sandbox `id` as typed chunks. */
  execStream(id: string, command: Command, options: Omit<ExecOptions, 'onStdout' | 'onStderr'> = {}): ExecStream {
    return startExecStream(this.transport, id, command, options);
  }

  /** File operations in sandbox `id`. */
  files(id: string): SandboxFiles {
    return new SandboxFiles(this.transport, id);
  }

  async health(options: CallOptions = {}): Promise<unknown> {
    return this.transport.json({ method: 'GET', path: '/healthz', signal: options.signal });
  }

  async createSandbox(spec: SandboxSpec = {}, options: CallOptions = {}): Promise<SandboxInfo> {
    const answer = await this.transport.json({ method: 'POST', path: '/v1/sandboxes', json: sandboxSpecToWire(spec), signal: options.signal });
    return sandboxFromWire(answer);
  }

  async getSandbox(id: string, options: CallOptions = {}): Promise<SandboxInfo> {
    return sandboxFromWire(await this.transport.json({ method: 'GET', path: `/v1/sandboxes/${enc(id)}`, signal: options.signal }));
  }

  async listSandboxes(options: ListSandboxesOptions = {}): Promise<SandboxInfo[]> {
    const labels = Object.entries(options.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    const answer = await this.transport.json({
      method: 'GET',
      path: '/v1/sandboxes',
      query: { state: options.state, backend: options.backend, label: labels },
      signal: options.signal,
    });
    return listFromWire(answer, 'sandboxes', sandboxFromWire);
  }

  async destroySandbox(id: string, options: CallOptions & { keepFiles?: boolean } = {}): Promise<void> {
    await this.transport.json({
      method: 'DELETE',
      path: `/v1/sandboxes/${enc(id)}`,
      query: { keep_files: options.keepFiles },
      signal: options.signal,
    });
  }

  /** POST /v1/sandboxes/{id}/<action> for start, suspend, resume, restore and fork. */
  async sandboxAction(id: string, action: 'start' | 'suspend' | 'resume' | 'restore' | 'fork', body: Json, options: CallOptions = {}): Promise<SandboxInfo> {
    const answer = await this.transport.json({ method: 'POST', path: `/v1/sandboxes/${enc(id)}/${action}`, json: body, signal: options.signal });
    return sandboxFromWire(answer);
  }

  async snapshotSandbox(id: string, options: CallOptions & { name?: string } = {}): Promise<SnapshotInfo> {
    const answer = await this.transport.json({
      method: 'POST',
      path: `/v1/sandboxes/${enc(id)}/snapshot`,
      json: dropUndefined({ name: options.name }),
      signal: options.signal,
    });
    return snapshotFromWire(answer);
  }

  async listSnapshots(options: CallOptions = {}): Promise<SnapshotInfo[]> {
    return listFromWire(await this.transport.json({ method: 'GET', path: '/v1/snapshots', signal: options.signal }), 'snapshots', snapshotFromWire);
  }

  /** Stored images (any caller). */
  async listImages(options: CallOptions = {}): Promise<ImageInfo[]> {
    const answer = (await this.transport.json({ method: 'GET', path: '/v1/images', signal: options.signal })) as { images?: ImageInfo[] };
    return answer.images ?? [];
  }

  /** One image by name or digest; NotFoundError when missing. */
  async getImage(name: string, options: CallOptions = {}): Promise<ImageInfo> {
    return (await this.transport.json({ method: 'GET', path: `/v1/images/${enc(name)}`, signal: options.signal })) as ImageInfo;
  }

  /** Removes an image name (admin); a ConflictError while a sandbox uses it. */
  async deleteImage(name: string, options: CallOptions = {}): Promise<{ name: string; digest: string; blob_removed: boolean }> {
    return (await this.transport.json({ method: 'DELETE', path: `/v1/images/${enc(name)}`, signal: options.signal })) as { name: string; digest: string; blob_removed: boolean };
  }

  async deleteSnapshot(id: string, options: CallOptions = {}): Promise<void> {
    await this.transport.json({ method: 'DELETE', path: `/v1/snapshots/${enc(id)}`, signal: options.signal });
  }

  async createSession(options: CreateSessionOptions = {}): Promise<SessionInfo> {
    const answer = await this.transport.json({
      method: 'POST',
      path: '/v1/sessions',
      json: dropUndefined({
        sandbox: options.sandbox === undefined ? undefined : sandboxSpecToWire(options.sandbox),
        sandbox_id: options.sandboxId,
        idle_timeout_ms: options.idleTimeoutMs,
        detach_timeout_ms: options.detachTimeoutMs,
        suspend_after_ms: options.suspendAfterMs,
      }),
      signal: options.signal,
    });
    return sessionFromWire(answer);
  }

  async getSession(id: string, options: CallOptions = {}): Promise<SessionInfo> {
    return sessionFromWire(await this.transport.json({ method: 'GET', path: `/v1/sessions/${enc(id)}`, signal: options.signal }));
  }

  async listSessions(options: CallOptions = {}): Promise<SessionInfo[]> {
    return listFromWire(await this.transport.json({ method: 'GET', path: '/v1/sessions', signal: options.signal }), 'sessions', sessionFromWire);
  }

  async attachSession(id: string, options: CallOptions = {}): Promise<SessionInfo> {
    return sessionFromWire(await this.transport.json({ method: 'POST', path: `/v1/sessions/${enc(id)}/attach`, json: {}, signal: options.signal }));
  }

  async detachSession(id: string, options: CallOptions = {}): Promise<SessionInfo> {
    return sessionFromWire(await this.transport.json({ method: 'POST', path: `/v1/sessions/${enc(id)}/detach`, json: {}, signal: options.signal }));
  }

  async closeSession(id: string, options: CallOptions = {}): Promise<void> {
    await this.transport.json({ method: 'DELETE', path: `/v1/sessions/${enc(id)}`, signal: options.signal });
  }

  async capabilities(options: CallOptions = {}): Promise<CapabilityInfo[]> {
    return listFromWire(await this.transport.json({ method: 'GET', path: '/v1/capabilities', signal: options.signal }), 'capabilities', capabilityFromWire);
  }

  /** Sends any intent (`{capability, params, ...}`, snake_case as on the wire); returns the IntentResponse. */
  async intent(request: Json, options: IntentOptions = {}): Promise<Json> {
    const answer = await this.transport.json({
      method: 'POST',
      path: '/v1/intents',
      json: request,
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
    });
    return isRecord(answer) ? answer : {};
  }

  async audit(options: CallOptions & { limit?: number; sinceMs?: number } = {}): Promise<AuditEvent[]> {
    const answer = await this.transport.json({
      method: 'GET',
      path: '/v1/audit',
      query: { limit: options.limit, since_ms: options.sinceMs },
      signal: options.signal,
    });
    return listFromWire(answer, 'events', auditEventFromWire);
  }

  async createKey(options: CreateKeyOptions): Promise<ApiKeyInfo> {
    const answer = await this.transport.json({
      method: 'POST',
      path: '/v1/keys',
      json: { subject: options.subject, tenant: options.tenant, roles: options.roles },
      signal: options.signal,
    });
    return apiKeyFromWire(answer);
  }

  async listKeys(options: CallOptions = {}): Promise<ApiKeyInfo[]> {
    return listFromWire(await this.transport.json({ method: 'GET', path: '/v1/keys', signal: options.signal }), 'keys', apiKeyFromWire);
  }

  async revokeKey(id: string, options: CallOptions = {}): Promise<void> {
    await this.transport.json({ method: 'DELETE', path: `/v1/keys/${enc(id)}`, signal: options.signal });
  }

  /** Registers an Ed25519 public key for signed requests (admin). */
  async registerSigningKey(options: RegisterSigningKeyOptions): Promise<SigningKeyInfo> {
    const answer = await this.transport.json({
      method: 'POST',
      path: '/v1/signing-keys',
      json: dropUndefined({ public_key: options.publicKey, id: options.id, subject: options.subject, tenant: options.tenant, roles: options.roles }),
      signal: options.signal,
    });
    return signingKeyFromWire(answer);
  }

  /** Registered signing keys, revoked ones included (admin). */
  async listSigningKeys(options: CallOptions = {}): Promise<SigningKeyInfo[]> {
    return listFromWire(await this.transport.json({ method: 'GET', path: '/v1/signing-keys', signal: options.signal }), 'keys', signingKeyFromWire);
  }

  async revokeSigningKey(id: string, options: CallOptions = {}): Promise<void> {
    await this.transport.json({ method: 'DELETE', path: `/v1/signing-keys/${enc(id)}`, signal: options.signal });
  }
}
