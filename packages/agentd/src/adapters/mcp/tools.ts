/**
 * THE tool table of the MCP server: one entry per tool (name, schema, description for a
 * model, run). Every run is a thin call into the REST API's own path (operations.ts), on the
 * sandbox the call names or, without `sandbox_id`, the session's default sandbox. A new tool
 * (background exec and output polling from the durable-commands work, port exposure from the
 * network work) is one more entry here.
 */
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Principal } from '../../auth/types.js';
import { SandboxPath } from '../../capabilities/common.js';
import { AgentdError } from '../../core/errors.js';
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
    ...(r.id === defaultId ? { session_default: true } : {}),
  };
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
}).strict();

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
];
