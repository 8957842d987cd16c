import type { ConfigIssue } from './errors.js';
import { setAt } from './objects.js';

export type EnvValueKind = 'string' | 'integer' | 'boolean';

export interface EnvOverride {
  readonly name: string;
  /** The config key it sets. */
  readonly path: readonly string[];
  readonly kind: EnvValueKind;
}

/**
 * Environment variables that override the file (and are overridden by explicit
 * overrides, i.e. CLI flags). An empty value counts as unset. Values are validated
 * exactly like the file's; a bad one is a configuration error naming the variable.
 * AGENTD_CONFIG (the file to read) is handled by loadConfig.
 */
export const ENV_OVERRIDES: readonly EnvOverride[] = Object.freeze(
  (
    [
      ['AGENTD_PROFILE', ['profile'], 'string'],
      ['AGENTD_HOME', ['home'], 'string'],
      ['AGENTD_ISOLATION_BACKEND', ['isolation', 'backend'], 'string'],
      ['AGENTD_HTTP_ENABLED', ['adapters', 'http', 'enabled'], 'boolean'],
      ['AGENTD_HTTP_LISTEN', ['adapters', 'http', 'listen'], 'string'],
      ['AGENTD_UNIX_ENABLED', ['adapters', 'unix', 'enabled'], 'boolean'],
      ['AGENTD_SOCKET', ['adapters', 'unix', 'path'], 'string'],
      ['AGENTD_SOCKET_MODE', ['adapters', 'unix', 'mode'], 'string'],
      ['AGENTD_NETWORK', ['sandbox', 'network'], 'string'],
      ['AGENTD_MAX_SANDBOXES', ['sandbox', 'max_sandboxes'], 'integer'],
      ['AGENTD_POOL_ENABLED', ['pool', 'enabled'], 'boolean'],
      ['AGENTD_POOL_MIN_WARM', ['pool', 'min_warm'], 'integer'],
      ['AGENTD_POOL_MAX_WARM', ['pool', 'max_warm'], 'integer'],
      ['AGENTD_MAX_CONCURRENT_EXECS', ['limits', 'max_concurrent_execs'], 'integer'],
      ['AGENTD_LOG_LEVEL', ['log', 'level'], 'string'],
    ] as const
  ).map(([name, path, kind]) => Object.freeze({ name, path: Object.freeze([...path]), kind })),
);

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function convert(raw: string, kind: EnvValueKind): { value: unknown } | { problem: string } {
  switch (kind) {
    case 'string':
      return { value: raw };
    case 'integer':
      return /^\d{1,15}$/.test(raw) ? { value: Number(raw) } : { problem: `expected a whole number, got "${raw}"` };
    case 'boolean': {
      const v = raw.toLowerCase();
      if (TRUE.has(v)) return { value: true };
      if (FALSE.has(v)) return { value: false };
      return { problem: `expected true/false (or 1/0, yes/no, on/off), got "${raw}"` };
    }
  }
}

export interface EnvApplied {
  /** Dotted key path -> the variable that set it. */
  sources: Map<string, string>;
  issues: ConfigIssue[];
}

/** Lays the AGENTD_* variables over `target` (mutated). */
export function applyEnv(target: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvApplied {
  const sources = new Map<string, string>();
  const issues: ConfigIssue[] = [];
  for (const o of ENV_OVERRIDES) {
    const raw = env[o.name];
    if (raw === undefined || raw === '') continue;
    const converted = convert(raw, o.kind);
    if ('problem' in converted) {
      issues.push({ path: o.name, message: `${converted.problem} (sets ${o.path.join('.')})` });
      continue;
    }
    setAt(target, o.path, converted.value);
    sources.set(o.path.join('.'), o.name);
  }
  return { sources, issues };
}
