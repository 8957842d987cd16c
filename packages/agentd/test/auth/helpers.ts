import { expect } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import type { AuthRequest } from '../../src/auth/index.js';

export function httpRequest(over: Partial<AuthRequest> = {}): AuthRequest {
  return { headers: {}, method: 'GET', path: '/v1/sandboxes', transport: 'http', remoteAddress: '127.0.0.1', ...over };
}

export function bearer(token: string, over: Partial<AuthRequest> = {}): AuthRequest {
  return httpRequest({ ...over, headers: { ...(over.headers ?? {}), authorization: `Bearer ${token}` } });
}

/** Awaits `p` and returns the AgentdError it rejects with (fails the test if it resolves or throws something else). */
export async function rejection(p: Promise<unknown>): Promise<AgentdError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a rejection').toBeInstanceOf(AgentdError);
  return caught as AgentdError;
}
