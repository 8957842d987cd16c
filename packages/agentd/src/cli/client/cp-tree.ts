/**
 * `agentd cp -r`: whole directory trees into and out of a sandbox, through the SDK's
 * `files.upload` / `files.download` (packages/sdk/src/tree.ts), so the CLI and the SDK share
 * one implementation of the rules: neither side's symlinks are followed or recreated (each
 * is skipped with a note on stderr), local files are opened with O_NOFOLLOW, a symlink at a
 * host target is refused (ELOOP), names that come from the sandbox must be plain names.
 */
import type { SandboxFiles, SkippedEntry, TransferReport } from '@agentd/sdk';
import { UsageError } from './errors.js';
import { writeAll, type CliIo } from './io.js';

export interface TreeCopy {
  /** Bytes per request for large files. */
  chunkSize: number;
}

export interface TreeTotals {
  bytes: number;
  files: number;
  dirs: number;
  skipped: number;
}

export function remoteJoin(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/** A local file problem as a one-line usage error ("cannot read PATH: ENOENT"). */
export function localError(what: string, path: string, err: unknown): UsageError {
  const reason = (err as { code?: string; message?: string }).code ?? (err as Error).message;
  return new UsageError(`${what} ${path}: ${reason}`);
}

/** A local file system error (Node's, or the SDK's local refusals): an errno code and a path. */
function localFailure(err: unknown): { code: string; path: string } | undefined {
  const { code, path } = (err ?? {}) as { code?: unknown; path?: unknown };
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && typeof path === 'string' ? { code, path } : undefined;
}

async function transfer(io: CliIo, what: 'read' | 'write', run: (onSkip: (e: SkippedEntry) => void) => Promise<TransferReport>, note: (e: SkippedEntry) => string): Promise<TreeTotals> {
  let notes = Promise.resolve();
  const onSkip = (e: SkippedEntry): void => {
    notes = notes.then(() => writeAll(io.stderr, `agentd cp: skipped ${note(e)}\n`));
  };
  try {
    const r = await run(onSkip);
    await notes;
    return { bytes: r.bytes, files: r.files, dirs: r.directories, skipped: r.skipped.length };
  } catch (err) {
    await notes.catch(() => undefined);
    const local = localFailure(err);
    throw local === undefined ? err : localError(`cannot ${what}`, local.path, err);
  }
}

function why(e: SkippedEntry): string {
  return e.reason === 'symlink' ? 'a symlink: not followed' : e.reason;
}

/** Copies the local directory `src` to the sandbox directory `dst` (created, with parents). */
export async function copyTreeIn(io: CliIo, files: SandboxFiles, ops: TreeCopy, src: string, dst: string): Promise<TreeTotals> {
  return transfer(io, 'read', (onSkip) => files.upload(src, dst, { chunkSize: ops.chunkSize, onSkip }), (e) => `${e.path} (${why(e)})`);
}

/** Copies the sandbox directory `src` to the local directory `dst` (created; an existing file there is replaced). */
export async function copyTreeOut(io: CliIo, files: SandboxFiles, ops: TreeCopy, src: string, dst: string): Promise<TreeTotals> {
  return transfer(io, 'write', (onSkip) => files.download(src, dst, { chunkSize: ops.chunkSize, onSkip }), (e) => `${e.path} in the sandbox (${why(e)})`);
}
