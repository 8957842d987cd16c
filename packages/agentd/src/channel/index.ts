/** The agentd-init channel: wire codec, the daemon's end of the channel, spawning, and the command lifecycle. */
export type { Channel, DirEntry, ExecHandle, ExecRequest, ExitInfo, FileKind, FileStat, InitReady, OutputChunk, PtyOptions, ReadResult, SandboxFs, SignalScope, WatchEnd, WatchEvent, WatchEventType, WatchHandle, WatchOptions, WriteOptions } from './types.js';
export { InitChannel } from './init-channel.js';
export type { InitChannelOptions } from './init-channel.js';
export { spawnInit } from './spawn.js';
export type { SpawnedInit, SpawnInitOptions } from './spawn.js';
export { runCommand, streamCommand } from './lifecycle.js';
export type { CommandEvent, CommandOptions, CommandResult, CommandStream, CommandSummary, ResourceUsage } from './lifecycle.js';
export { signalNumber } from './exec-handle.js';
export { encodeMessage, FrameDecoder, MAX_CHUNK, MAX_FRAME, MSG, PROTOCOL_VERSION } from './frames.js';
export type { DaemonMessage, InitMessage, Message, MessageName, ProtocolErrorEvent } from './frames.js';
