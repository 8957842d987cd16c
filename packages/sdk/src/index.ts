/** @agentd/sdk: a client for the agentd daemon, for Node and browsers (no native dependency). */
export { Sandbox } from './sandbox.js';
export type { ConnectOptions, ExecFunction, SandboxCreateOptions, SandboxListOptions } from './sandbox.js';
export { AgentdClient } from './client.js';
export { SandboxNetwork } from './network.js';
export type { NetworkInfo, NetworkRules, PortInfo, VerifyProbe, VerifyReport } from './network.js';
export type { CreateKeyOptions, CreateSessionOptions, IntentOptions, ListSandboxesOptions, RegisterSigningKeyOptions } from './client.js';
export { ExecStream, execChunks } from './exec.js';
export type { Command, ExecChunksOptions, ExecOptions, ExecStreamFormat } from './exec.js';
export { FRAMES_CONTENT_TYPE } from './frames.js';
export { DEFAULT_CHUNK_BYTES, SandboxFiles } from './files.js';
export { CommandHandle, SandboxCommands } from './commands.js';
export type { CommandExit, CommandInfo, CommandOutput, CommandState, FollowOptions, RunOptions } from './commands.js';
export { PtyHandle, SandboxPty } from './pty.js';
export type { PtyCreateOptions } from './pty.js';
export type { CallOptions, ReadBytesResult, ReadOptions, ReadStreamOptions, WriteContent, WriteOptions } from './files.js';
export type { SkippedEntry, TransferOptions, TransferReport } from './tree.js';
export { FileWatch } from './watch.js';
export type { FileWatchEnd, FileWatchEvent, FileWatchEventType, FileWatchOptions } from './watch.js';
export { StreamEndedError, parseFrame } from './ndjson.js';
export type { ExecFrame } from './ndjson.js';
export { DEFAULT_BASE_URL } from './options.js';
export type { ClientOptions, FetchLike, HeadersHook, RequestInfo, RetryOptions } from './options.js';
export { RequestSigner, SIGNATURE_HEADERS, canonicalRequest } from './signing.js';
export type { SigningOptions } from './signing.js';
export { HttpTransport } from './transport.js';
export type { QueryValue, RequestSpec } from './transport.js';
export { ERROR_CODES, isErrorCode } from './codes.js';
export type { ErrorCode } from './codes.js';
export {
  AgentdError,
  AuthenticationError,
  CancelledError,
  CommandExitError,
  ConflictError,
  ERROR_CLASS_BY_CODE,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ProtocolError,
  ResourceExhaustedError,
  SandboxOperationError,
  TimeoutError,
  UnavailableError,
  createError,
  errorFromBody,
} from './errors.js';
export type { AgentdErrorOptions, ErrorBody } from './errors.js';
export { base64ToBytes, bytesToBase64 } from './base64.js';
export type {
  ApiKeyInfo,
  AuditEvent,
  BindMount,
  CapabilityInfo,
  ExecChunk,
  ExecResult,
  FileEntry,
  FileKind,
  FileStat,
  ImageInfo,
  NetworkMode,
  Profile,
  ResourceUsage,
  SandboxInfo,
  SandboxLimits,
  SandboxSpec,
  SandboxState,
  SandboxUsage,
  SessionInfo,
  SessionState,
  SigningKeyInfo,
  SnapshotInfo,
  WriteResult,
} from './types.js';
