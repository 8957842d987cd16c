import { InvalidConfigError, parseConfig, type AgentdConfig, type ConfigIssue } from '../../src/config/index.js';

/** A non-root user's environment with a known home, so defaults do not depend on the machine. */
export const USER_ENV: NodeJS.ProcessEnv = { HOME: '/home/alice' };
export const USER_UID = 1000;

export function parse(obj: unknown, env: NodeJS.ProcessEnv = USER_ENV, overrides?: Record<string, unknown>): AgentdConfig {
  return parseConfig(obj, env, { uid: USER_UID, ...(overrides === undefined ? {} : { overrides }) });
}

/** The InvalidConfigError that parsing `obj` throws (fails the test if it parses). */
export function issuesOf(obj: unknown, env: NodeJS.ProcessEnv = USER_ENV, overrides?: Record<string, unknown>): { error: InvalidConfigError; issues: readonly ConfigIssue[]; paths: string[] } {
  try {
    parse(obj, env, overrides);
  } catch (err) {
    if (err instanceof InvalidConfigError) return { error: err, issues: err.issues, paths: err.issues.map((i) => i.path) };
    throw err;
  }
  throw new Error(`expected InvalidConfigError for ${JSON.stringify(obj)}`);
}

export function messageAt(issues: readonly ConfigIssue[], path: string): string {
  const found = issues.filter((i) => i.path === path);
  if (found.length !== 1) throw new Error(`expected exactly one issue at ${path}, got: ${JSON.stringify(issues, null, 1)}`);
  return found[0]!.message;
}
