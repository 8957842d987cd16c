import { isAbsolute, join } from 'node:path';
import { findBuiltinBackend } from '../isolation/names.js';
import type { ProfileName } from '../isolation/types.js';
import { applyEnv } from './env.js';
import { InvalidConfigError, type ConfigIssue } from './errors.js';
import { currentUid, defaultHome } from './home.js';
import { convertIssue, isRuleIssue, overlaps, toPath, type IssueContext } from './issues.js';
import { cloneJson, compact, deepFreeze, deepMerge, getAt, isPlainObject, originalPath, removeAt, type PathSegment } from './objects.js';
import { DEFAULT_PROFILE, PRESETS } from './profiles.js';
import { AgentdConfigSchema, type AgentdConfig } from './schema.js';
import { PROFILE_NAMES } from './sections.js';
import { knownKeysAt } from './shape-keys.js';
import { parseDuration, parseSize } from '../util/units.js';

/** A partial configuration as written in a file or passed as overrides (plain data). */
export type ConfigInput = Record<string, unknown>;

export interface ParseOptions {
  /** Applied over file and environment (highest precedence), e.g. from CLI flags. */
  overrides?: ConfigInput;
  /** Dotted key path of an override -> what set it, named in errors ("--profile"). Default "overrides". */
  overrideSources?: Readonly<Record<string, string>>;
  /** The uid whose defaults apply (root: /var/lib/agentd). Default: the current process's. */
  uid?: number;
  /** Named in the error message ("/etc/agentd/agentd.toml"). */
  source?: string;
  /**
   * Validates the `isolation.backends` tables (e.g. `registry.checkOptions.bind(registry)`),
   * so option errors are listed with all the others. Default: not checked here (each
   * backend still validates its options when created).
   */
  checkBackendOptions?: (backends: Readonly<Record<string, Readonly<Record<string, unknown>>>>) => ConfigIssue[];
}

/** Bounds the shape-error pruning loop; each round removes at least one value. */
const MAX_ROUNDS = 32;

function profileOf(input: Record<string, unknown>): ProfileName {
  const p = input.profile;
  return typeof p === 'string' && (PROFILE_NAMES as readonly string[]).includes(p) ? (p as ProfileName) : DEFAULT_PROFILE;
}

/** Preset + user values, and the values derived from the host (home, socket path). */
function resolve(input: Record<string, unknown>, env: NodeJS.ProcessEnv, uid: number): Record<string, unknown> {
  const profile = profileOf(input);
  const merged = deepMerge(PRESETS[profile], input) as Record<string, unknown>;
  merged.profile ??= profile;
  merged.home ??= defaultHome(env, uid);
  const unix = getAt(merged, ['adapters', 'unix']);
  if (isPlainObject(unix) && unix.path === undefined) {
    const home = typeof merged.home === 'string' && isAbsolute(merged.home) ? merged.home : defaultHome(env, uid);
    unix.path = join(home, 'agentd.sock');
  }
  return merged;
}

/** Removes the user's values that shape errors point at, so the rules can still be checked. */
function pruneAt(input: Record<string, unknown>, path: readonly PathSegment[], tombstone: symbol): boolean {
  for (let n = path.length; n > 0; n--) {
    if (removeAt(input, path.slice(0, n), tombstone)) return true;
  }
  return false;
}

function normalizeBackendOptions(cfg: AgentdConfig): AgentdConfig {
  const backends = Object.fromEntries(Object.entries(cfg.isolation.backends).map(([k, v]) => [findBuiltinBackend(k)?.name ?? k, v]));
  return { ...cfg, isolation: { ...cfg.isolation, backends } };
}

/**
 * Validates a configuration object (as parsed from TOML) with the AGENTD_* variables of
 * `env` and `opts.overrides` laid over it: preset of the profile < file < env < overrides.
 * Returns a deep-frozen config, or throws InvalidConfigError listing every problem.
 */
export function parseConfig(obj: unknown, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): AgentdConfig {
  const uid = opts.uid ?? currentUid();
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const add = (issue: ConfigIssue): void => {
    const key = `${issue.path}\0${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(issue);
    }
  };

  let input: Record<string, unknown> = {};
  if (isPlainObject(obj)) input = cloneJson(obj) as Record<string, unknown>;
  else if (obj !== undefined) add({ path: '(root)', message: 'the configuration must be a table of sections' });

  const applied = applyEnv(input, env);
  applied.issues.forEach(add);
  const sources = new Map(applied.sources);
  if (opts.overrides !== undefined) {
    input = deepMerge(input, opts.overrides) as Record<string, unknown>;
    for (const path of leafPaths(opts.overrides)) sources.set(path.join('.'), opts.overrideSources?.[path.join('.')] ?? 'overrides');
  }
  applyUnits(input, [], sources, add);

  // Round 0 reports every shape error. Later rounds run on a copy without the values those
  // errors point at (the preset fills in), only to find the profile/security rule violations
  // among the remaining, valid values; their paths are mapped back to the user's indices.
  const shapeErrorPaths: PathSegment[][] = [];
  const tombstone = Symbol('pruned');
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const view = compact(input, tombstone);
    const merged = resolve(view.value as Record<string, unknown>, env, uid);
    const ctx: IssueContext = { sources, knownKeysAt: (path) => knownKeysAt(AgentdConfigSchema, path, (p) => getAt(merged, p)) };
    const result = AgentdConfigSchema.safeParse(merged);
    if (round === 0 && opts.checkBackendOptions) backendOptionIssues(merged, opts.checkBackendOptions).forEach(add);
    if (result.success) {
      if (issues.length > 0) break;
      return deepFreeze(normalizeBackendOptions(result.data));
    }
    const shape: PathSegment[][] = [];
    for (const zi of result.error.issues) {
      const path = originalPath(view.tree, toPath(zi.path));
      if (!isRuleIssue(zi)) {
        const targets = zi.code === 'unrecognized_keys' ? zi.keys.map((k) => [...path, k]) : [path];
        shape.push(...targets);
        if (round === 0) convertIssue({ ...zi, path }, ctx).forEach(add);
      } else if (round === 0 || !shapeErrorPaths.some((p) => overlaps(p, path))) {
        convertIssue({ ...zi, path }, ctx).forEach(add);
      }
    }
    if (shape.length === 0) break;
    shapeErrorPaths.push(...shape);
    let pruned = false;
    for (const target of shape) pruned = pruneAt(input, target, tombstone) || pruned;
    if (!pruned) break;
  }
  throw new InvalidConfigError(issues, opts.source);
}

/**
 * Human units in the config: a string at a key ending in `_ms` is a duration (`30s`, `10m`,
 * `1h`, `500ms`; a bare number counts milliseconds), at a key ending in `_bytes` a size
 * (`64k`, `512m`, `2g`; bare: bytes). Numbers are kept as they are. A string that does not
 * parse is reported here (and removed, so the schema does not report it a second time).
 */
function applyUnits(node: Record<string, unknown>, path: string[], sources: ReadonlyMap<string, string>, add: (issue: ConfigIssue) => void): void {
  for (const [key, value] of Object.entries(node)) {
    const here = [...path, key];
    if (isPlainObject(value)) {
      applyUnits(value, here, sources, add);
      continue;
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (isPlainObject(item)) applyUnits(item, [...here, String(i)], sources, add);
      });
      continue;
    }
    if (typeof value !== 'string') continue;
    const kind = key.endsWith('_ms') ? 'duration' : key.endsWith('_bytes') ? 'size' : undefined;
    if (kind === undefined) continue;
    const parsed = kind === 'duration' ? parseDuration(value, 'ms') : parseSize(value);
    if (parsed.ok) {
      node[key] = parsed.value;
    } else {
      const source = sources.get(here.join('.'));
      add({ path: `${here.join('.')}${source === undefined ? '' : ` (from ${source})`}`, message: parsed.message });
      delete node[key];
    }
  }
}

function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (!isPlainObject(value)) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}

/** Runs the backend options check on the tables that are well-formed (the schema reports the others). */
function backendOptionIssues(merged: Record<string, unknown>, check: NonNullable<ParseOptions['checkBackendOptions']>): ConfigIssue[] {
  const backends = getAt(merged, ['isolation', 'backends']);
  if (!isPlainObject(backends)) return [];
  const tables = Object.fromEntries(Object.entries(backends).filter((e): e is [string, Record<string, unknown>] => isPlainObject(e[1])));
  return check(tables);
}
