import { describe, expect, test } from 'vitest';
import { ERROR_CODES as DAEMON_CODES } from '../../agentd/src/core/codes.js';
import { FRAMES_CONTENT_TYPE as DAEMON_FRAMES_TYPE } from '../../agentd/src/adapters/http/exec-stream.js';
import { ERROR_CODES as SDK_CODES, AgentdError, ERROR_CLASS_BY_CODE, FRAMES_CONTENT_TYPE, createError, type ErrorCode } from '../src/index.js';

describe('the SDK error code list', () => {
  test('has exactly the daemon codes, with the same HTTP status and retryability', () => {
    const daemon = Object.fromEntries(
      Object.entries(DAEMON_CODES).map(([code, v]) => [code, { httpStatus: v.httpStatus, retryable: v.retryable }]),
    );
    expect(SDK_CODES).toEqual(daemon);
  });

  test('maps every code to an AgentdError subclass that keeps the code', () => {
    for (const code of Object.keys(SDK_CODES) as ErrorCode[]) {
      const err = createError(code, 'm');
      expect(err).toBeInstanceOf(AgentdError);
      expect(err).toBeInstanceOf(ERROR_CLASS_BY_CODE[code]);
      expect(err.code).toBe(code);
      expect(err.retryable).toBe(SDK_CODES[code].retryable);
    }
  });
});

describe('the binary exec-stream media type', () => {
  // A mismatch would not fail any stream: the daemon would answer NDJSON and the SDK read it, only slower.
  test("is the daemon's own", () => {
    expect(FRAMES_CONTENT_TYPE).toBe(DAEMON_FRAMES_TYPE);
  });
});
