import { AgentdError } from '../core/errors.js';

/** One problem in a configuration: where (a dotted key path, an env var, or a file) and what. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Formats issues as one `path: message` line each. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('\n');
}

/** Every problem of a configuration at once; the configuration is never used partially. */
export class InvalidConfigError extends AgentdError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], source?: string) {
    const where = source === undefined ? 'configuration' : `configuration (${source})`;
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super('INVALID_CONFIG', `invalid ${where}, ${count}:\n${formatIssues(issues)}`, { details: { issues: issues.map((i) => ({ ...i })) } });
    this.name = 'InvalidConfigError';
    this.issues = Object.freeze(issues.map((i) => Object.freeze({ ...i })));
  }

  /** One `path: message` line per issue. */
  format(): string {
    return formatIssues(this.issues);
  }
}
