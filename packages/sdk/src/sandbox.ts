/** A sandbox handle: commands, files, lifecycle; `await using` destroys it. */
import { SandboxNetwork } from './network.js';
import { AgentdClient, type ListSandboxesOptions } from './client.js';
import { checkExit, runExec, startExecStream, type Command, type ExecOptions, type ExecStream } from './exec.js';
import { SandboxFiles, type CallOptions } from './files.js';
import { SandboxCommands } from './commands.js';
import { SandboxPty } from './pty.js';
import type { ClientOptions } from './options.js';
import type { ExecResult, SandboxInfo, SandboxSpec, SnapshotInfo } from './types.js';

export interface ConnectOptions extends ClientOptions {
  /** Reuse an existing client instead of building one from the other options. */
  client?: AgentdClient;
  signal?: AbortSignal;
}

export interface SandboxCreateOptions extends ConnectOptions, SandboxSpec {}

export interface SandboxListOptions extends ConnectOptions, Omit<ListSandboxesOptions, 'signal'> {}

const CLIENT_KEYS = ['baseUrl', 'apiKey', 'token', 'headers', 'fetch', 'retry', 'client', 'signal', 'localTokenFile'] as const;

function clientFrom(options: ConnectOptions): AgentdClient {
  return options.client ?? new AgentdClient(options);
}

function specFrom(options: SandboxCreateOptions): SandboxSpec {
  const spec: Record<string, unknown> = { ...options };
  for (const key of CLIENT_KEYS) delete spec[key];
  return spec;
}

/** `sandbox.exec(...)`: awaitable result; `sandbox.exec.stream(...)`: the streaming iterator. */
export interface ExecFunction {
  (command: Command, options?: ExecOptions): Promise<ExecResult>;
  stream(command: Command, options?: Omit<ExecOptions, 'onStdout' | 'onStderr'>): ExecStream;
}

export class Sandbox implements AsyncDisposable {
  readonly id: string;
  readonly client: AgentdClient;
  readonly files: SandboxFiles;
  /** Egress rules, the bypass self-test and exposed ports (docs/network.md). */
  readonly network: SandboxNetwork;
  /** Durable commands: background, reattach from an offset, list, stdin, kill. */
  readonly commands: SandboxCommands;
  /** Terminals in the sandbox. */
  readonly pty: SandboxPty;
  /** Runs a command and resolves to its result; a non-zero exit is a result, not an exception. */
  readonly exec: ExecFunction;
  /** What the daemon last said about this sandbox. */
  info: SandboxInfo;

  private constructor(client: AgentdClient, info: SandboxInfo) {
    this.id = info.id;
    this.client = client;
    this.info = info;
    this.files = new SandboxFiles(client.transport, info.id);
    this.network = new SandboxNetwork(client.transport, info.id);
    this.commands = new SandboxCommands(client.transport, info.id);
    this.pty = new SandboxPty(this.commands);
    const exec = (command: Command, options: ExecOptions = {}): Promise<ExecResult> => runExec(client.transport, this.id, command, options);
    this.exec = Object.assign(exec, { stream: (command: Command, options: ExecOptions = {}) => this.stream(command, options) });
  }

  /** Creates a sandbox (`{}` gives the profile's defaults). */
  static async create(options: SandboxCreateOptions = {}): Promise<Sandbox> {
    const client = clientFrom(options);
    const info = await client.createSandbox(specFrom(options), { signal: options.signal });
    return new Sandbox(client, info);
  }

  /** Attaches to an existing sandbox by id (fails with NotFoundError when there is none). */
  static async connect(id: string, options: ConnectOptions = {}): Promise<Sandbox> {
    const client = clientFrom(options);
    return new Sandbox(client, await client.getSandbox(id, { signal: options.signal }));
  }

  static async list(options: SandboxListOptions = {}): Promise<SandboxInfo[]> {
    return clientFrom(options).listSandboxes(options);
  }

  /** Streams a command's output as typed chunks (`for await (const chunk of sandbox.stream(...))`). */
  stream(command: Command, options: Omit<ExecOptions, 'onStdout' | 'onStderr'> = {}): ExecStream {
    return startExecStream(this.client.transport, this.id, command, options);
  }

  /** Like exec, but throws CommandExitError unless the command exited 0. */
  async execOrThrow(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    return checkExit(await this.exec(command, options));
  }

  async refresh(options: CallOptions = {}): Promise<SandboxInfo> {
    this.info = await this.client.getSandbox(this.id, options);
    return this.info;
  }

  async start(options: CallOptions = {}): Promise<SandboxInfo> {
    return this.act('start', {}, options);
  }

  async suspend(options: CallOptions = {}): Promise<SandboxInfo> {
    return this.act('suspend', {}, options);
  }

  async resume(options: CallOptions = {}): Promise<SandboxInfo> {
    return this.act('resume', {}, options);
  }

  async snapshot(options: CallOptions & { name?: string } = {}): Promise<SnapshotInfo> {
    return this.client.snapshotSandbox(this.id, options);
  }

  /** Puts the sandbox's files back to a snapshot. */
  async restore(snapshotId: string, options: CallOptions = {}): Promise<SandboxInfo> {
    return this.act('restore', { snapshot_id: snapshotId }, options);
  }

  /** A new sandbox from a snapshot of this one (taken now when no snapshotId is given). */
  async fork(options: CallOptions & { snapshotId?: string } = {}): Promise<Sandbox> {
    const body = options.snapshotId === undefined ? {} : { snapshot_id: options.snapshotId };
    const info = await this.client.sandboxAction(this.id, 'fork', body, options);
    return new Sandbox(this.client, info);
  }

  /** Destroys the sandbox (its files too unless keepFiles). */
  async destroy(options: CallOptions & { keepFiles?: boolean } = {}): Promise<void> {
    await this.client.destroySandbox(this.id, options);
  }

  /** `await using sbx = await Sandbox.create()` destroys it at the end of the scope (already gone is fine). */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.destroy();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'NOT_FOUND') throw err;
    }
  }

  private async act(action: 'start' | 'suspend' | 'resume' | 'restore', body: Record<string, unknown>, options: CallOptions): Promise<SandboxInfo> {
    this.info = await this.client.sandboxAction(this.id, action, body, options);
    return this.info;
  }
}
