/**
 * THE tool table of the MCP server: one entry per tool (name, schema, description for a
 * model, run). Every run is a thin call into the REST API's own path (operations.ts), on the
 * sandbox the call names or, without `sandbox_id`, the session's default sandbox. Background
 * commands use the durable commands registry as the /commands routes do, ports the gate's
 * `sandbox.ports.*` operations as the /ports routes do. A new tool is one more entry here.
 */
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Principal } from '../../auth/types.js';
import { SandboxPath } from '../../capabilities/common.js';
import { AgentdError } from '../../core/errors.js';
import type { Command } from '../../commands/command.js';
import type { SandboxRecord, SnapshotRecord } from '../../state/types.js';
import type { McpOperations } from './operations.js';
import { clipPair, DEFAULT_OUTPUT_CHARS, MAX_OUTPUT_CHARS, type ToolOutput } from './results.js';

/** What a tool's run gets: the caller of this very request, and the session's default sandbox. */
export interface ToolContext {
  principal: Principal;
  /** Aborted when the client cancels the call, the connection goes, or the daemon stops. */
  signal: AbortSignal;
  ops: McpOperations;
  /** The sandbox to act on: `asked`, else the session's default sandbox (created on first use). */
  sandbox(asked: string | undefined): Promise<string>;
  /** The session's default sandbox id, when it has one. */
  defaultSandbox(): string | undefined;
  /** The default sandbox was destroyed: the next call without sandbox_id creates a new one. */
  forgetDefault(id: string): void;
}

export interface ToolSpec<A = Record<string, unknown>> {
  name: string;
  title: string;
  /** Written for a model: what it does, when to use it, what comes back. */
  description: string;
  /** A strict zod object: validated at the call (INVALID_ARGUMENT), served as JSON Schema in tools/list. */
  input: z.ZodType<A>;
  annotations: ToolAnnotations;
  run(ctx: ToolContext, args: A): Promise<ToolOutput>;
}

function tool<A>(spec: ToolSpec<A>): ToolSpec {
  return spec as unknown as ToolSpec;
}

const SandboxId = z.string().min(1).max(128).optional()
  .describe("The sandbox to act on. Omit it to use this session's default sandbox (created on first use, destroyed when the session ends).");

/** Default and largest bytes one sandbox_file_read returns. */
const DEFAULT_READ_BYTES = 256 * 1024;
const MAX_READ_BYTES = 4 * 1024 * 1024;
/** Largest stdout+stderr the daemon keeps for one MCP exec (what the model sees is clipped further). */
const EXEC_KEEP_BYTES = 4 * 1024 * 1024;
/** Most directory entries one sandbox_file_list returns. */
const MAX_LIST_ENTRIES = 1000;

function sandboxSummary(r: SandboxRecord, defaultId: string | undefined): ToolOutput {
  return {
    sandbox_id: r.id, state: r.state, backend: r.backend, profile: r.profile, labels: r.labels,
    created_at: new Date(r.createdAtMs).toISOString(), ...(r.expiresAtMs === null ? {} : { expires_at: new Date(r.expiresAtMs).toISOString() }),
    ...imageOf(r.spec), ...(r.id === defaultId ? { session_default: true } : {}),
  };
}

/** The image a sandbox runs on (name and digest), when it has one. */
function imageOf(spec: unknown): { image?: { name: string; digest: string } } {
  const image = (spec as { image?: { name?: unknown; digest?: unknown } } | null)?.image;
  if (typeof image?.name !== 'string' || typeof image.digest !== 'string') return {};
  return { image: { name: image.name, digest: image.digest } };
}

function snapshotSummary(s: SnapshotRecord): ToolOutput {
  return { snapshot_id: s.id, sandbox_id: s.sandboxId, ...(s.name === null ? {} : { name: s.name }), size_bytes: s.sizeBytes, created_at: new Date(s.createdAtMs).toISOString() };
}

/** Whole UTF-8 text from `bytes`, or null when it is not text; a character cut at the end (not at EOF) is left for the next read. */
function utf8Text(bytes: Buffer, eof: boolean): { text: string; used: number } | null {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let drop = 0; drop <= (eof ? 0 : Math.min(3, bytes.length)); drop++) {
    try {
      const used = bytes.length - drop;
      return { text: decoder.decode(bytes.subarray(0, used)), used };
    } catch {
      // a cut character at the end: try one byte less
    }
  }
  return null;
}

const ExecInput = z.object({
  sandbox_id: SandboxId,
  command: z.string().min(1).max(256 * 1024).optional().describe('A shell command line, run with /bin/sh -c (pipes, redirections and && work). Give this or argv.'),
  argv: z.array(z.string().max(128 * 1024)).min(1).max(4096).optional().describe('Program and arguments, run without a shell (argv[0] is searched in PATH). Give this or command.'),
  cwd: z.string().min(1).max(4096).optional().describe('Working directory inside the sandbox (default: the sandbox workdir, /workspace).'),
  env: z.record(z.string().regex(/^[^=\0]+$/), z.string().max(128 * 1024)).optional().describe('Extra environment variables for this command.'),
  timeout_ms: z.number().int().min(1).max(86_400_000).optional().describe('Kill the command (and everything it started) after this many milliseconds (default 60000; the daemon caps it).'),
  stdin: z.string().max(8 * 1024 * 1024).optional().describe('Text given to the command on standard input (default: none).'),
  max_output_chars: z.number().int().min(100).max(MAX_OUTPUT_CHARS).optional()
    .describe(`Most characters of stdout+stderr returned (default ${DEFAULT_OUTPUT_CHARS}); longer output keeps its beginning and end and says how much was omitted.`),
}).strict().refine((a) => (a.command === undefined) !== (a.argv === undefined), { message: 'give exactly one of `command` or `argv`' });

const CreateInput = z.object({
  network: z.enum(['none', 'allowlist', 'host']).optional().describe("Network access: 'none' (no network), 'allowlist' (only the hosts the daemon's config allows) or 'host'. Default: the daemon's profile decides."),
  egress: z.object({
    allow: z.array(z.string().min(1).max(300)).max(256).optional().describe("Hosts it may reach ('pypi.org', '*.npmjs.org', 'host:443'); only within what the daemon's config allows."),
    deny: z.array(z.string().min(1).max(300)).max(256).optional().describe('Hosts it may never reach; deny wins.'),
  }).strict().optional().describe("With network 'allowlist': this sandbox's own egress rules, which can only narrow the daemon's."),
  limits: z.object({
    memory_bytes: z.number().int().min(1 << 20).optional().describe('Memory limit in bytes.'),
    pids: z.number().int().min(1).max(1 << 22).optional().describe('Most processes and threads.'),
    cpus: z.number().min(0.01).max(1024).optional().describe('CPU quota in cores (0.5 = half a core).'),
    open_files: z.number().int().min(16).max(1 << 20).optional().describe('Most open files per process.'),
    disk_bytes: z.number().int().min(16 << 20).max(2 ** 50).optional().describe("Size of the sandbox's own disk for /workspace, home and /tmp."),
  }).strict().optional().describe('Resource limits; they can only be tighter than the daemon allows.'),
  env: z.record(z.string().regex(/^[^=\0]+$/), z.string().max(128 * 1024)).optional().describe('Environment variables every command in this sandbox gets.'),
  workdir: z.string().min(1).max(4096).optional().describe('Default working directory of commands.'),
  labels: z.record(z.string().min(1).max(128), z.string().max(256)).optional().describe('Free-form labels, shown by sandbox_list.'),
  ttl_ms: z.number().int().min(1000).max(30 * 24 * 3600 * 1000).optional().describe('Destroy the sandbox automatically this many milliseconds after creation.'),
  profile: z.enum(['workstation', 'server', 'paranoid', 'custom']).optional().describe("Security profile (default: the daemon's); only as strict or stricter is allowed."),
  template: z.string().min(1).max(64).optional().describe("A template the daemon's config defines (its image, environment, limits and start command); the other fields here override its defaults."),
  image: z.string().min(1).max(128).optional().describe('A stored image (name, or sha256: digest) whose root file system the sandbox gets, e.g. one with the language toolchain you need. Default: the host\'s system folders, read-only.'),
}).strict();

/** Default and largest output bytes one sandbox_command_output returns (about 8k tokens by default, as sandbox_exec). */
const DEFAULT_POLL_BYTES = DEFAULT_OUTPUT_CHARS;
const MAX_POLL_BYTES = MAX_OUTPUT_CHARS;
/** Longest a sandbox_command_output call waits for new output (under hosts' usual 60 s request timeout). */
const MAX_WAIT_MS = 30_000;
/** How long sandbox_command_kill waits for the command to be gone before answering. */
const KILL_WAIT_MS = 5000;

const CommandId = z.string().min(1).max(128).describe('The command id sandbox_exec_background returned (sandbox_command_list shows them).');

/** The exit of a finished command, for a model: exit code, or the signal / time-out / error that ended it. */
function exitFields(c: Command): ToolOutput {
  const e = c.exit;
  if (e === null) return {};
  return {
    exit_code: e.exit_code,
    ...(e.signal === null ? {} : { signal: e.signal }),
    ...(e.timed_out ? { timed_out: true } : {}),
    ...(e.canceled ? { killed: true } : {}),
    ...(e.error === undefined ? {} : { error: `${e.error.code}: ${e.error.message}` }),
  };
}

function commandSummary(c: Command): ToolOutput {
  const v = c.view();
  return {
    command_id: v.id, sandbox_id: v.sandbox_id, argv: v.argv, state: v.state, pid: v.pid,
    started_at: new Date(v.started_at_ms).toISOString(), ...(v.ended_at_ms === null ? {} : { ended_at: new Date(v.ended_at_ms).toISOString() }),
    ...exitFields(c), output_bytes: v.output.end_offset, stdin_open: v.stdin_open,
  };
}

/** Waits until the command has output past `offset`, or ends, or `ms` pass (or the call is cancelled). */
async function waitForOutput(c: Command, offset: number, ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || !c.running || c.ring.end > offset) return;
  const it = c.follow(offset, AbortSignal.any([signal, AbortSignal.timeout(ms)]));
  try {
    await it.next();
  } finally {
    await it.return(undefined);
  }
}

/** Waits until the command is no longer running (at most `ms`). */
async function waitForEnd(c: Command, ms: number, signal: AbortSignal): Promise<void> {
  if (!c.running) return;
  const stop = AbortSignal.any([signal, AbortSignal.timeout(ms)]);
  for await (const ev of c.follow(c.ring.end, stop)) if (ev.type === 'end') return;
}

/** Bytes at the end of `buf` that begin a UTF-8 character the buffer does not complete (0-3). */
function cutCharTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back] as number;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * A command's output from `offset`, at most `maxBytes`: stdout, stderr (or a terminal's one
 * stream) as text, and the offset to ask next. A UTF-8 character cut at the end is left for the
 * next read unless nothing else would come back.
 */
function readOutput(c: Command, offset: number, maxBytes: number): ToolOutput {
  const end = c.ring.end;
  if (offset > end) throw new AgentdError('INVALID_ARGUMENT', `offset ${offset} is past the command's output (${end} bytes so far): use the next_offset of the last call`, { details: { offset, end_offset: end } });
  const r = c.ring.readFrom(offset, maxBytes);
  const chunks = r.chunks.map((ch) => ({ stream: ch.stream, data: ch.data }));
  let next = r.next;
  const last = chunks[chunks.length - 1];
  const total = chunks.reduce((n, ch) => n + ch.data.length, 0);
  if (last !== undefined && (c.running || next < end)) {
    const cut = cutCharTail(last.data);
    if (cut > 0 && cut < total) {
      last.data = last.data.subarray(0, last.data.length - cut);
      next -= cut;
    }
  }
  const text = (stream: string): string => new TextDecoder('utf-8').decode(Buffer.concat(chunks.filter((ch) => ch.stream === stream).map((ch) => ch.data)));
  const finished = !c.running && next >= end;
  return {
    command_id: c.id, state: c.state,
    ...(r.lost > 0 ? { lost_bytes: r.lost } : {}),
    ...(c.pty ? { output: text('pty') } : { stdout: text('stdout'), stderr: text('stderr') }),
    next_offset: next, more: next < end, finished,
    ...(finished ? exitFields(c) : {}),
  };
}

export const TOOLS: ToolSpec[] = [
  tool({
    name: 'sandbox_exec',
    title: 'Run a command in a sandbox',
    description: 'Run a command in an isolated Linux sandbox and wait for it to finish. Files persist in the sandbox between calls (work in /workspace). '
      + 'Returns exit_code (null when killed, then signal says why), stdout, stderr, timed_out, duration_ms, and stdout_truncated/stderr_truncated when output was cut to fit your context. '
      + 'A non-zero exit is a normal result, not an error. Omit sandbox_id to use your default sandbox.',
    input: ExecInput,
    annotations: { destructiveHint: true, openWorldHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const r = await ctx.ops.intent(ctx.principal, id, 'shell.exec.v1', {
        ...(a.command === undefined ? {} : { command: a.command }), ...(a.argv === undefined ? {} : { argv: a.argv }),
        ...(a.cwd === undefined ? {} : { cwd: a.cwd }), ...(a.env === undefined ? {} : { env: a.env }),
        ...(a.timeout_ms === undefined ? {} : { timeout_ms: a.timeout_ms }), ...(a.stdin === undefined ? {} : { stdin: a.stdin }),
        max_output_bytes: EXEC_KEEP_BYTES,
      }, ctx.signal);
      const extra = (r.output ?? {}) as { duration_ms?: number; resource_limited?: boolean };
      const daemonCut = r.output_truncated === true;
      const { stdout, stderr } = clipPair(typeof r.stdout === 'string' ? r.stdout : '', typeof r.stderr === 'string' ? r.stderr : '', a.max_output_chars ?? DEFAULT_OUTPUT_CHARS);
      return {
        sandbox_id: id,
        exit_code: r.exit_code ?? null,
        ...(r.signal === null || r.signal === undefined ? {} : { signal: r.signal }),
        timed_out: r.timed_out === true,
        ...(extra.resource_limited === true ? { resource_limited: true } : {}),
        duration_ms: extra.duration_ms ?? 0,
        stdout: stdout.text,
        stderr: stderr.text,
        stdout_truncated: stdout.clipped || daemonCut,
        stderr_truncated: stderr.clipped || daemonCut,
      };
    },
  }),
  tool({
    name: 'sandbox_file_read',
    title: 'Read a file in a sandbox',
    description: `Read a file from a sandbox. Text comes back as is (encoding "utf8"), binary data as base64 (encoding "base64"). At most ${DEFAULT_READ_BYTES} bytes by default: `
      + 'when eof is false, call again with offset = next_offset for the rest. Relative paths start at the sandbox workdir (/workspace).',
    input: z.object({
      sandbox_id: SandboxId,
      path: SandboxPath,
      offset: z.number().int().min(0).optional().describe('Byte offset to start at (default 0).'),
      limit: z.number().int().min(1).max(MAX_READ_BYTES).optional().describe(`Most bytes to read (default ${DEFAULT_READ_BYTES}).`),
    }).strict(),
    annotations: { readOnlyHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const offset = a.offset ?? 0;
      const out = await ctx.ops.fs(ctx.principal, id, 'fs.read.v1', { path: a.path, offset, limit: a.limit ?? DEFAULT_READ_BYTES, encoding: 'base64' }, ctx.signal);
      const bytes = Buffer.from(typeof out.content === 'string' ? out.content : '', 'base64');
      const eof = out.eof === true;
      const text = utf8Text(bytes, eof);
      const used = text?.used ?? bytes.length;
      const atEnd = eof && used === bytes.length;
      return {
        path: a.path, file_size: out.file_size, offset, bytes: used, eof: atEnd, ...(atEnd ? {} : { next_offset: offset + used }),
        encoding: text === null ? 'base64' : 'utf8', content: text === null ? bytes.toString('base64') : text.text,
      };
    },
  }),
  tool({
    name: 'sandbox_file_write',
    title: 'Write a file in a sandbox',
    description: 'Create or replace a file in a sandbox with the given content (missing parent directories are created). Use append to add to the end instead. '
      + 'For a change to part of an existing file, sandbox_file_edit is safer.',
    input: z.object({
      sandbox_id: SandboxId,
      path: SandboxPath,
      content: z.string().max(32 * 1024 * 1024).describe('The file content.'),
      encoding: z.enum(['utf8', 'base64']).optional().describe('How content is encoded (default utf8; base64 for binary data).'),
      append: z.boolean().optional().describe('Append to the file instead of replacing it.'),
      mode: z.number().int().min(0).max(0o7777).optional().describe('Permission bits of a new file as a number, e.g. 493 for 0755 (default 420, 0644).'),
    }).strict(),
    annotations: { destructiveHint: true, idempotentHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const out = await ctx.ops.fs(ctx.principal, id, 'fs.write.v1', {
        path: a.path, content: a.content, encoding: a.encoding ?? 'utf8', create_dirs: true,
        ...(a.append === undefined ? {} : { append: a.append }), ...(a.mode === undefined ? {} : { mode: a.mode }),
      }, ctx.signal);
      return { path: a.path, ...out };
    },
  }),
  tool({
    name: 'sandbox_file_edit',
    title: 'Edit a file in a sandbox',
    description: 'Replace exact text in a file in a sandbox: old_string must occur exactly once (include enough surrounding lines to make it unique), '
      + 'or set replace_all to replace every occurrence. Returns how many replacements were made.',
    input: z.object({
      sandbox_id: SandboxId,
      path: SandboxPath,
      old_string: z.string().min(1).max(8 * 1024 * 1024).describe('The exact text to replace, whitespace included.'),
      new_string: z.string().max(8 * 1024 * 1024).describe('The text to put in its place.'),
      replace_all: z.boolean().optional().describe('Replace every occurrence (default false: old_string must be unique).'),
    }).strict(),
    annotations: { destructiveHint: true },
    async run(ctx, a) {
      const { sandbox_id: asked, ...params } = a;
      const id = await ctx.sandbox(asked);
      const out = await ctx.ops.fs(ctx.principal, id, 'fs.edit.v1', params, ctx.signal);
      return { path: a.path, ...out };
    },
  }),
  tool({
    name: 'sandbox_file_list',
    title: 'List a directory in a sandbox',
    description: `List a directory in a sandbox: each entry's name, kind (file, directory, symlink, other), size and mode. At most ${MAX_LIST_ENTRIES} entries; `
      + 'truncated says when there were more (use sandbox_exec with find or ls for big trees).',
    input: z.object({ sandbox_id: SandboxId, path: SandboxPath.default('.').describe('Directory inside the sandbox (default: the workdir).') }).strict(),
    annotations: { readOnlyHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const out = await ctx.ops.fs(ctx.principal, id, 'fs.list.v1', { path: a.path }, ctx.signal);
      const all = Array.isArray(out.entries) ? (out.entries as Array<Record<string, unknown>>) : [];
      const entries = all.slice(0, MAX_LIST_ENTRIES).map((e) => ({ name: e.name, kind: e.kind, size: e.size, mode: typeof e.mode === 'number' ? `0${(e.mode & 0o7777).toString(8)}` : e.mode }));
      return { path: a.path, entries, truncated: all.length > MAX_LIST_ENTRIES, total: all.length };
    },
  }),
  tool({
    name: 'sandbox_file_stat',
    title: 'Describe a path in a sandbox',
    description: 'Whether a path exists in a sandbox and what it is: kind, size, mode, modification time, owner, and a symlink\'s target. A missing path is a NOT_FOUND or FS_ERROR (ENOENT) error.',
    input: z.object({
      sandbox_id: SandboxId,
      path: SandboxPath,
      follow: z.boolean().optional().describe('Describe what a final symlink points to (default true).'),
    }).strict(),
    annotations: { readOnlyHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const out = await ctx.ops.fs(ctx.principal, id, 'fs.stat.v1', { path: a.path, ...(a.follow === undefined ? {} : { follow: a.follow }) }, ctx.signal);
      return { path: a.path, ...out, ...(typeof out.mode === 'number' ? { mode: `0${(out.mode & 0o7777).toString(8)}` } : {}) };
    },
  }),
  tool({
    name: 'sandbox_create',
    title: 'Create a sandbox',
    description: 'Create a new isolated Linux sandbox and return its sandbox_id. You usually do not need this: every tool without sandbox_id uses your default sandbox. '
      + 'Create one for separate, parallel or differently limited work (network, memory, CPU, processes); pass its sandbox_id to the other tools. '
      + 'template or image gives it another root file system (e.g. a language toolchain) when the daemon has one. '
      + 'It stays until sandbox_destroy, its ttl_ms, or the daemon\'s expiry: destroy it when done.',
    input: CreateInput,
    annotations: { openWorldHint: false },
    async run(ctx, a) {
      const r = await ctx.ops.create(ctx.principal, a, ctx.signal);
      return sandboxSummary(r, ctx.defaultSandbox());
    },
  }),
  tool({
    name: 'sandbox_list',
    title: 'List sandboxes',
    description: 'List your sandboxes (id, state, backend, labels); session_default marks the default sandbox of this session.',
    input: z.object({ state: z.enum(['creating', 'running', 'suspended', 'stopped', 'destroying', 'destroyed', 'dead']).optional().describe('Only sandboxes in this state.') }).strict(),
    annotations: { readOnlyHint: true },
    async run(ctx, a) {
      const list = await ctx.ops.list(ctx.principal, a.state);
      return { sandboxes: list.map((r) => sandboxSummary(r, ctx.defaultSandbox())) };
    },
  }),
  tool({
    name: 'sandbox_destroy',
    title: 'Destroy a sandbox',
    description: 'Destroy a sandbox and its files (and snapshots). Without sandbox_id it destroys this session\'s default sandbox; the next call without sandbox_id then starts a fresh one.',
    input: z.object({ sandbox_id: z.string().min(1).max(128).optional().describe('The sandbox to destroy (default: this session\'s default sandbox).') }).strict(),
    annotations: { destructiveHint: true },
    async run(ctx, a) {
      const id = a.sandbox_id ?? ctx.defaultSandbox();
      if (id === undefined) throw new AgentdError('NOT_FOUND', 'this session has no default sandbox yet, and no sandbox_id was given');
      await ctx.ops.destroy(ctx.principal, id);
      ctx.forgetDefault(id);
      return { sandbox_id: id, destroyed: true };
    },
  }),
  tool({
    name: 'sandbox_snapshot',
    title: 'Snapshot a sandbox',
    description: 'Save a copy of a sandbox\'s files (workspace, home, /tmp) as a snapshot. Use it before risky changes: sandbox_restore brings the files back, sandbox_fork starts a new sandbox from them.',
    input: z.object({ sandbox_id: SandboxId, name: z.string().min(1).max(128).optional().describe('A name to remember it by.') }).strict(),
    annotations: { destructiveHint: false },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      return snapshotSummary(await ctx.ops.snapshot(ctx.principal, id, a.name === undefined ? {} : { name: a.name }, ctx.signal));
    },
  }),
  tool({
    name: 'sandbox_restore',
    title: 'Restore a snapshot',
    description: 'Put a snapshot\'s files back into a sandbox, replacing its current files (running commands are stopped). The snapshot must be of this sandbox.',
    input: z.object({ sandbox_id: SandboxId, snapshot_id: z.string().min(1).max(128).describe('The snapshot to restore (from sandbox_snapshot).') }).strict(),
    annotations: { destructiveHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      return sandboxSummary(await ctx.ops.restore(ctx.principal, id, { snapshot_id: a.snapshot_id }, ctx.signal), ctx.defaultSandbox());
    },
  }),
  tool({
    name: 'sandbox_fork',
    title: 'Fork a sandbox',
    description: 'Start a new sandbox with a copy of a sandbox\'s files (now, or as of one of its snapshots), to try something without touching the original. '
      + 'Returns the new sandbox_id; pass it to the other tools, and destroy it when done.',
    input: z.object({
      sandbox_id: SandboxId,
      snapshot_id: z.string().min(1).max(128).optional().describe('Fork from this snapshot instead of the current files.'),
    }).strict(),
    annotations: { destructiveHint: false },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const r = await ctx.ops.fork(ctx.principal, id, a.snapshot_id === undefined ? {} : { snapshot_id: a.snapshot_id }, ctx.signal);
      return { ...sandboxSummary(r, ctx.defaultSandbox()), forked_from: id };
    },
  }),
  tool({
    name: 'sandbox_exec_background',
    title: 'Start a command in the background',
    description: 'Start a command in a sandbox that keeps running after this call returns (a server, a build, a long test run, a watcher), and return its command_id at once. '
      + 'Read its output with sandbox_command_output (from offset 0, then each next_offset), stop it with sandbox_command_kill, feed it input with sandbox_command_stdin (start it with keep_stdin_open). '
      + 'Use sandbox_exec instead for commands that finish quickly. Omit sandbox_id to use your default sandbox.',
    input: z.object({
      sandbox_id: SandboxId,
      command: z.string().min(1).max(256 * 1024).optional().describe('A shell command line, run with /bin/sh -c. Give this or argv.'),
      argv: z.array(z.string().max(128 * 1024)).min(1).max(4096).optional().describe('Program and arguments, run without a shell. Give this or command.'),
      cwd: z.string().min(1).max(4096).optional().describe('Working directory inside the sandbox (default: the sandbox workdir, /workspace).'),
      env: z.record(z.string().regex(/^[^=\0]+$/), z.string().max(128 * 1024)).optional().describe('Extra environment variables for this command.'),
      timeout_ms: z.number().int().min(1).max(86_400_000).optional().describe("Kill the command (and everything it started) after this many milliseconds (default: the daemon's longest allowed, usually 600000)."),
      stdin: z.string().max(8 * 1024 * 1024).optional().describe('Text given to the command on standard input first.'),
      keep_stdin_open: z.boolean().optional().describe('Keep standard input open for sandbox_command_stdin (default false: the command reads EOF after `stdin`).'),
    }).strict().refine((a) => (a.command === undefined) !== (a.argv === undefined), { message: 'give exactly one of `command` or `argv`' }),
    annotations: { destructiveHint: true, openWorldHint: true },
    async run(ctx, a) {
      const { sandbox_id: asked, ...body } = a;
      const id = await ctx.sandbox(asked);
      const cmd = await ctx.ops.commandStart(ctx.principal, id, body);
      return commandSummary(cmd);
    },
  }),
  tool({
    name: 'sandbox_command_output',
    title: "Read a background command's output",
    description: "Read a background command's output from a byte offset: stdout and stderr as text (a terminal command's as output), next_offset to pass on the next call, "
      + 'state (running, exited, failed, lost), and once finished is true its exit_code (or signal, timed_out, killed, error). '
      + `At most max_bytes per call (default ${DEFAULT_POLL_BYTES}); more: true means call again at once with offset = next_offset. `
      + 'Set wait_ms to wait for new output instead of calling in a tight loop. lost_bytes says how much old output was dropped before your offset (the daemon keeps only the latest part of very long output).',
    input: z.object({
      sandbox_id: SandboxId,
      command_id: CommandId,
      offset: z.number().int().min(0).optional().describe('First byte wanted (default 0): the next_offset of your previous call.'),
      max_bytes: z.number().int().min(100).max(MAX_POLL_BYTES).optional().describe(`Most output bytes returned (default ${DEFAULT_POLL_BYTES}).`),
      wait_ms: z.number().int().min(0).max(MAX_WAIT_MS).optional().describe(`When there is no new output yet, wait up to this long for some (or for the command to end) before answering (default 0, at most ${MAX_WAIT_MS}).`),
    }).strict(),
    annotations: { readOnlyHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const cmd = await ctx.ops.commandAttach(ctx.principal, id, a.command_id);
      const offset = a.offset ?? 0;
      await waitForOutput(cmd, offset, a.wait_ms ?? 0, ctx.signal);
      return readOutput(cmd, offset, a.max_bytes ?? DEFAULT_POLL_BYTES);
    },
  }),
  tool({
    name: 'sandbox_command_list',
    title: "List a sandbox's commands",
    description: "List a sandbox's commands: the running ones and those finished recently, each with command_id, argv, state, exit_code when done and output_bytes (the output's end offset).",
    input: z.object({ sandbox_id: SandboxId }).strict(),
    annotations: { readOnlyHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const list = await ctx.ops.commandList(ctx.principal, id);
      return { sandbox_id: id, commands: list.map(commandSummary) };
    },
  }),
  tool({
    name: 'sandbox_command_kill',
    title: 'Kill a background command',
    description: 'Kill a running background command and every process it started (SIGKILL). Answers with the command once it is gone; its output stays readable with sandbox_command_output.',
    input: z.object({ sandbox_id: SandboxId, command_id: CommandId }).strict(),
    annotations: { destructiveHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const cmd = await ctx.ops.commandKill(ctx.principal, id, a.command_id);
      await waitForEnd(cmd, KILL_WAIT_MS, ctx.signal);
      return commandSummary(cmd);
    },
  }),
  tool({
    name: 'sandbox_command_stdin',
    title: "Write to a background command's input",
    description: 'Send text to the standard input of a background command started with keep_stdin_open (add the newline yourself when it reads lines); close: true sends end-of-file after it.',
    input: z.object({
      sandbox_id: SandboxId,
      command_id: CommandId,
      data: z.string().max(8 * 1024 * 1024).default('').describe('Text to write (may be empty with close: true).'),
      close: z.boolean().optional().describe('Close the input after writing (the command reads EOF).'),
    }).strict(),
    annotations: { destructiveHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const out = await ctx.ops.commandStdin(ctx.principal, id, a.command_id, Buffer.from(a.data, 'utf8'), a.close === true);
      return { command_id: a.command_id, ...out };
    },
  }),
  tool({
    name: 'sandbox_expose_port',
    title: 'Expose a port of a sandbox',
    description: "Make a TCP server running inside a sandbox reachable from the host: the daemon listens on the host's loopback (127.0.0.1) and relays each connection to the port inside. "
      + 'The server must listen on 127.0.0.1 or 0.0.0.0 inside the sandbox (start it with sandbox_exec_background). Works even without network access. '
      + 'Returns host_port and url for the user or host tools; it lasts while the sandbox runs.',
    input: z.object({
      sandbox_id: SandboxId,
      port: z.number().int().min(1).max(65535).describe('The port the server listens on inside the sandbox.'),
      host_port: z.number().int().min(1).max(65535).optional().describe('The host port to listen on (default: any free one).'),
    }).strict(),
    annotations: { destructiveHint: false, openWorldHint: false },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      const p = await ctx.ops.portAdd(ctx.principal, id, a.host_port === undefined ? String(a.port) : `${a.host_port}:${a.port}`);
      return { sandbox_id: id, ...p };
    },
  }),
  tool({
    name: 'sandbox_list_ports',
    title: "List a sandbox's exposed ports",
    description: "The ports of a sandbox exposed on the host: each one's port inside, host, host_port and url.",
    input: z.object({ sandbox_id: SandboxId }).strict(),
    annotations: { readOnlyHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      return { sandbox_id: id, ports: await ctx.ops.portList(ctx.principal, id) };
    },
  }),
  tool({
    name: 'sandbox_unexpose_port',
    title: 'Stop exposing a port',
    description: 'Stop exposing a sandbox port on the host (the server inside keeps running).',
    input: z.object({ sandbox_id: SandboxId, port: z.number().int().min(1).max(65535).describe('The port inside the sandbox, as given to sandbox_expose_port.') }).strict(),
    annotations: { destructiveHint: true },
    async run(ctx, a) {
      const id = await ctx.sandbox(a.sandbox_id);
      await ctx.ops.portRemove(ctx.principal, id, a.port);
      return { sandbox_id: id, port: a.port, exposed: false };
    },
  }),
];
