import type { z } from 'zod';
import type { ConfigIssue } from './errors.js';
import type { PathSegment } from './objects.js';

/** Marks issues raised by the profile/cross-section rules (rules.ts), as opposed to shape errors. */
export const RULE_PARAM = 'agentdRule';

export function isRuleIssue(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'custom' && issue.params?.[RULE_PARAM] === true;
}

/** `a.b[0].c`, with keys that are not bare TOML keys quoted. */
export function renderPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((seg, i) => {
      if (typeof seg === 'number') return `[${seg}]`;
      const key = /^[A-Za-z0-9_-]+$/.test(seg) ? seg : JSON.stringify(seg);
      return i === 0 ? key : `.${key}`;
    })
    .join('');
}

export function toPath(path: readonly PropertyKey[]): PathSegment[] {
  return path.map((p) => (typeof p === 'number' ? p : String(p)));
}

/** True when one path is a prefix of the other (the same value or one inside it). */
export function overlaps(a: readonly PathSegment[], b: readonly PathSegment[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const close = known.filter((k) => editDistance(k, key) <= 2).sort((x, y) => editDistance(x, key) - editDistance(y, key))[0];
  if (close !== undefined) return `unknown key (did you mean "${close}"?)`;
  return known.length > 0 ? `unknown key; expected one of: ${known.join(', ')}` : 'unknown key';
}

export interface IssueContext {
  /** Dotted key path -> where the value came from ("AGENTD_HOME", "overrides"). */
  sources: ReadonlyMap<string, string>;
  /** The keys a strict object at `path` accepts. */
  knownKeysAt: (path: readonly PathSegment[]) => readonly string[];
}

function annotate(path: readonly PathSegment[], ctx: IssueContext): string {
  const rendered = renderPath(path);
  for (let n = path.length; n > 0; n--) {
    const source = ctx.sources.get(path.slice(0, n).join('.'));
    if (source !== undefined) return `${rendered} (from ${source})`;
  }
  return rendered;
}

/** One ConfigIssue per zod issue (one per key for unknown keys), with readable messages. */
export function convertIssue(issue: z.core.$ZodIssue, ctx: IssueContext): ConfigIssue[] {
  const path = toPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = ctx.knownKeysAt(path);
    return issue.keys.map((key) => ({ path: annotate([...path, key], ctx), message: unknownKeyMessage(key, known) }));
  }
  let message = issue.message;
  if (issue.code === 'invalid_type' && /received undefined$/.test(message)) message = `required (${issue.expected})`;
  return [{ path: annotate(path, ctx), message }];
}
