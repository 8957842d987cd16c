import { describe, expect, test } from 'vitest';
import { parseConfig, InvalidConfigError } from '../../src/config/index.js';
import { issuesOf, messageAt, parse, USER_ENV, USER_UID } from './helpers.js';

describe('config: durations at *_ms keys, sizes at *_bytes keys', () => {
  test('strings with units become milliseconds and bytes; numbers stay as they are', () => {
    const c = parse({
      sandbox: { idle_timeout_ms: '10m', ttl_ms: 3_600_000, limits: { memory_bytes: '512m' } },
      limits: { max_exec_timeout_ms: '2h', max_output_bytes: '32m' },
      adapters: { http: { request_timeout_ms: '90s', body_limit_bytes: '64k' } },
    });
    expect([c.sandbox.idle_timeout_ms, c.sandbox.ttl_ms, c.sandbox.limits.memory_bytes]).toEqual([600_000, 3_600_000, 512 * 1024 * 1024]);
    expect([c.limits.max_exec_timeout_ms, c.limits.max_output_bytes]).toEqual([7_200_000, 32 * 1024 * 1024]);
    expect([c.adapters.http.request_timeout_ms, c.adapters.http.body_limit_bytes]).toEqual([90_000, 65_536]);
  });

  test('a bare number string at a _ms key is milliseconds', () => {
    expect(parse({ limits: { max_exec_timeout_ms: '700000' } }).limits.max_exec_timeout_ms).toBe(700_000);
  });

  test('a string that does not parse is exactly one problem naming the key', () => {
    const { issues } = issuesOf({ limits: { max_output_bytes: 'lots', max_exec_timeout_ms: 'soon' } });
    expect(messageAt(issues, 'limits.max_output_bytes')).toMatch(/expected a size like 64k, 512m, 2g/);
    expect(messageAt(issues, 'limits.max_exec_timeout_ms')).toMatch(/expected a duration like 500ms, 30s, 10m or 1h/);
    expect(issues).toHaveLength(2);
  });

  test('the schema bounds still apply after the conversion', () => {
    const { issues } = issuesOf({ limits: { max_exec_timeout_ms: '2d' } });
    expect(issues.map((i) => i.path)).toEqual(['limits.max_exec_timeout_ms']);
  });

  test('an override names its flag, not "overrides"', () => {
    try {
      parseConfig({}, USER_ENV, { uid: USER_UID, overrides: { profile: 'nope' }, overrideSources: { profile: '--profile' } });
      throw new Error('expected an error');
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidConfigError);
      expect((err as InvalidConfigError).issues.map((i) => i.path)).toEqual(['profile (from --profile)']);
    }
  });
});
