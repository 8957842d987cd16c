import { readFile } from 'node:fs/promises';
import { parse as parseToml, TomlError } from 'smol-toml';
import { InvalidConfigError, type ConfigIssue } from './errors.js';
import { currentUid, defaultConfigPath } from './home.js';
import { parseConfig, type ConfigInput, type ParseOptions } from './parse.js';
import type { AgentdConfig } from './schema.js';

export interface LoadConfigOptions {
  /** The TOML file. Default: $AGENTD_CONFIG, else the per-user/system default path if it exists. */
  file?: string;
  /** Environment for AGENTD_* overrides and defaults. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Highest-precedence values (CLI flags). */
  overrides?: ConfigInput;
  /** See ParseOptions.overrideSources (dotted key -> the flag that set it). */
  overrideSources?: ParseOptions['overrideSources'];
  /** The uid whose defaults apply. Default: the current process's. */
  uid?: number;
  /** See ParseOptions.checkBackendOptions (pass `registry.checkOptions.bind(registry)`). */
  checkBackendOptions?: ParseOptions['checkBackendOptions'];
  signal?: AbortSignal;
}

interface ReadFile {
  /** undefined: an optional default file that does not exist. */
  data: Record<string, unknown> | undefined;
  source: string | undefined;
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

async function readToml(file: string, required: boolean, signal: AbortSignal | undefined): Promise<ReadFile> {
  let text: string;
  try {
    text = await readFile(file, { encoding: 'utf8', signal });
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ABORT_ERR') throw err;
    if (code === 'ENOENT' && !required) return { data: undefined, source: undefined };
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not a file' : code === 'EACCES' ? 'permission denied' : `cannot be read (${code ?? String(err)})`;
    throw new InvalidConfigError([{ path: file, message: why }], file);
  }
  try {
    return { data: parseToml(text), source: file };
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split('\n')[0] ?? err.message;
      throw new InvalidConfigError([{ path: `${file}:${err.line}:${err.column}`, message: `TOML syntax error at line ${err.line}, column ${err.column}: ${first}` }], file);
    }
    throw err;
  }
}

/** Which file to read: the named one (must exist), $AGENTD_CONFIG (must exist), or the default path (may be absent). */
function pickFile(file: string | undefined, env: NodeJS.ProcessEnv, uid: number): { file: string; required: boolean } {
  if (file !== undefined) return { file, required: true };
  if (env.AGENTD_CONFIG) return { file: env.AGENTD_CONFIG, required: true };
  return { file: defaultConfigPath(env, uid), required: false };
}

/**
 * Reads the TOML file, lays AGENTD_* env and `overrides` over it, validates once and
 * returns a deep-frozen configuration. Throws InvalidConfigError (code INVALID_CONFIG)
 * listing every problem; never falls back to defaults for a value that is wrong.
 */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<AgentdConfig> {
  return (await loadWithSource(opts)).config;
}

async function loadWithSource(opts: LoadConfigOptions): Promise<{ config: AgentdConfig; source: string | undefined }> {
  const env = opts.env ?? process.env;
  const uid = opts.uid ?? currentUid();
  const { file, required } = pickFile(opts.file, env, uid);
  const read = await readToml(file, required, opts.signal);
  const config = parseConfig(read.data ?? {}, env, {
    uid,
    ...(opts.overrides === undefined ? {} : { overrides: opts.overrides }),
    ...(opts.overrideSources === undefined ? {} : { overrideSources: opts.overrideSources }),
    ...(opts.checkBackendOptions === undefined ? {} : { checkBackendOptions: opts.checkBackendOptions }),
    ...(read.source === undefined ? {} : { source: read.source }),
  });
  return { config, source: read.source };
}

export type ConfigCheckResult = { ok: true; config: AgentdConfig; file: string | undefined } | { ok: false; issues: readonly ConfigIssue[]; file: string | undefined };

/**
 * For `agentd config check [FILE]`: the loaded config, or every issue. Only configuration
 * problems are returned as issues; anything else (abort, a bug) still throws.
 */
export async function checkConfigFile(file?: string, env: NodeJS.ProcessEnv = process.env, opts: Omit<LoadConfigOptions, 'file' | 'env'> = {}): Promise<ConfigCheckResult> {
  const picked = pickFile(file, env, opts.uid ?? currentUid());
  try {
    const { config, source } = await loadWithSource({ ...opts, env, ...(file === undefined ? {} : { file }) });
    return { ok: true, config, file: source };
  } catch (err) {
    if (err instanceof InvalidConfigError) return { ok: false, issues: err.issues, file: picked.file };
    throw err;
  }
}
