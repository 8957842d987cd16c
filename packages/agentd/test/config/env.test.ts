import { describe, expect, test } from 'vitest';
import { ENV_OVERRIDES } from '../../src/config/index.js';
import { issuesOf, messageAt, parse, USER_ENV } from './helpers.js';

const env = (vars: Record<string, string>): NodeJS.ProcessEnv => ({ ...USER_ENV, ...vars });

describe('AGENTD_* overrides', () => {
  test('env wins over the file', () => {
    const file = { profile: 'workstation', home: '/srv/file', isolation: { backend: 'host-direct' }, adapters: { http: { listen: '127.0.0.1:1000' } }, log: { level: 'warn' } };
    const cfg = parse(file, env({ AGENTD_PROFILE: 'server', AGENTD_HOME: '/srv/env', AGENTD_ISOLATION_BACKEND: 'bwrap', AGENTD_HTTP_LISTEN: '127.0.0.1:2000', AGENTD_LOG_LEVEL: 'debug', AGENTD_SOCKET: '/run/env.sock' }));
    expect(cfg.profile).toBe('server');
    expect(cfg.home).toBe('/srv/env');
    expect(cfg.isolation.backend).toBe('bwrap');
    expect(cfg.adapters.http.listen).toBe('127.0.0.1:2000');
    expect(cfg.adapters.unix.path).toBe('/run/env.sock');
    expect(cfg.log.level).toBe('debug');
  });

  test('overrides (CLI flags) win over env', () => {
    const cfg = parse({}, env({ AGENTD_HTTP_LISTEN: '127.0.0.1:2000' }), { adapters: { http: { listen: '127.0.0.1:3000' } } });
    expect(cfg.adapters.http.listen).toBe('127.0.0.1:3000');
  });

  test('the profile from env picks the preset', () => {
    expect(parse({}, env({ AGENTD_PROFILE: 'paranoid' })).sandbox.fresh_per_request).toBe(true);
  });

  test('integers and booleans are converted', () => {
    const cfg = parse({}, env({ AGENTD_POOL_ENABLED: 'yes', AGENTD_POOL_MIN_WARM: '1', AGENTD_POOL_MAX_WARM: '3', AGENTD_MAX_SANDBOXES: '9', AGENTD_HTTP_ENABLED: 'false', AGENTD_UNIX_ENABLED: '0', AGENTD_SOCKET_MODE: '0600', AGENTD_NETWORK: 'none', AGENTD_MAX_CONCURRENT_EXECS: '5' }));
    expect(cfg.pool).toMatchObject({ enabled: true, min_warm: 1, max_warm: 3 });
    expect(cfg.sandbox.max_sandboxes).toBe(9);
    expect(cfg.adapters.http.enabled).toBe(false);
    expect(cfg.adapters.unix).toMatchObject({ enabled: false, mode: 0o600 });
    expect(cfg.sandbox.network).toBe('none');
    expect(cfg.limits.max_concurrent_execs).toBe(5);
  });

  test('an empty variable counts as unset', () => {
    expect(parse({ log: { level: 'warn' } }, env({ AGENTD_LOG_LEVEL: '' })).log.level).toBe('warn');
  });

  test('bad env values are config errors naming the variable, all at once', () => {
    const { issues } = issuesOf({}, env({ AGENTD_PROFILE: 'prod', AGENTD_POOL_MIN_WARM: 'two', AGENTD_HTTP_ENABLED: 'maybe', AGENTD_HTTP_LISTEN: 'localhost', AGENTD_ISOLATION_BACKEND: 'firecracker' }));
    expect(messageAt(issues, 'profile (from AGENTD_PROFILE)')).toContain('"workstation"|"server"|"paranoid"|"custom"');
    expect(messageAt(issues, 'AGENTD_POOL_MIN_WARM')).toBe('expected a whole number, got "two" (sets pool.min_warm)');
    expect(messageAt(issues, 'AGENTD_HTTP_ENABLED')).toContain('expected true/false');
    expect(messageAt(issues, 'adapters.http.listen (from AGENTD_HTTP_LISTEN)')).toContain('HOST:PORT');
    expect(messageAt(issues, 'isolation.backend (from AGENTD_ISOLATION_BACKEND)')).toContain('not implemented yet');
    expect(issues).toHaveLength(5);
  });

  test('a profile rule broken by an env value names the variable', () => {
    const { issues } = issuesOf({ profile: 'paranoid' }, env({ AGENTD_NETWORK: 'host' }));
    expect(messageAt(issues, 'sandbox.network (from AGENTD_NETWORK)')).toContain("profile 'paranoid'");
  });

  test('AGENTD_PROFILE=server refuses a soft backend from the file', () => {
    const { issues } = issuesOf({ isolation: { backend: 'host-direct' } }, env({ AGENTD_PROFILE: 'server' }));
    expect(messageAt(issues, 'isolation.backend')).toContain("profile 'server' requires kernel isolation, but backend 'host-direct' provides none");
  });

  test('the variable table has unique names', () => {
    expect(new Set(ENV_OVERRIDES.map((o) => o.name)).size).toBe(ENV_OVERRIDES.length);
  });
});
