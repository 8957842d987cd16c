import type { z } from 'zod';
import { AgentdError } from '../core/errors.js';

/** A zod validation failure as INVALID_ARGUMENT, one `path: message` per issue in details. */
export function zodError(error: z.ZodError, what: string): AgentdError {
  const issues = error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message, code: i.code }));
  const first = issues[0];
  const summary = first ? `${first.path === '' ? what : `${what}.${first.path}`}: ${first.message}` : `invalid ${what}`;
  return new AgentdError('INVALID_ARGUMENT', summary, { details: { issues } });
}
