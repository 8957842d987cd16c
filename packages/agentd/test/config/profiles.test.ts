import { describe, expect, test } from 'vitest';
import { parseConfig, PRESETS, PROFILE_RULES } from '../../src/config/index.js';
import { issuesOf, parse, USER_ENV } from './helpers.js';

describe('defaults per profile', () => {
  test.each(['workstation', 'server', 'paranoid'] as const)('%s: no default lets a sandbox reach the daemon (network none, no allow-all, TCP needs a credential)', (profile) => {
    const cfg = parse({ profile });
    expect(cfg.sandbox.network).toBe('none');
    expect(cfg.auth.providers.map((p) => p.type)).not.toContain('allow-all');
    expect(cfg.auth.providers.map((p) => p.type)).toContain('local-token');
  });

  test('workstation still allows host networking when the file asks for it', () => {
    expect(parse({ sandbox: { network: 'host' } }).sandbox.network).toBe('host');
  });

  test('no file at all gives the workstation profile', () => {
    const cfg = parse({});
    expect(cfg.profile).toBe('workstation');
    expect(cfg.isolation).toEqual({ backend: 'auto', require_kernel: false, allow_host_direct: false, backends: {} });
    expect(cfg.auth.providers).toEqual([{ type: 'local-token' }, { type: 'peer-creds' }]);
    expect(cfg.sandbox.network).toBe('none');
    expect(cfg.sandbox.fresh_per_request).toBe(false);
    expect(cfg.adapters.http).toEqual({
      enabled: true, listen: '127.0.0.1:7070', body_limit_bytes: 32 * 1024 * 1024, request_timeout_ms: 60_000, headers_timeout_ms: 10_000, keep_alive_timeout_ms: 5000,
    });
    expect(cfg.adapters.unix).toEqual({ enabled: true, path: '/home/alice/.local/share/agentd/agentd.sock', mode: 0o660 });
    expect(cfg.adapters.grpc.enabled).toBe(false);
    expect(cfg.adapters.nats.enabled).toBe(false);
    expect(cfg.pool).toEqual({ enabled: false, min_warm: 0, max_warm: 4, ttl_ms: 600_000 });
    expect(cfg.log.level).toBe('info');
  });

  test('server: kernel isolation required, real auth, no network, limits set', () => {
    const cfg = parse({ profile: 'server' });
    expect(cfg.isolation.require_kernel).toBe(true);
    expect(cfg.auth.providers.map((p) => p.type)).toEqual(['local-token', 'peer-creds', 'api-key']);
    expect(cfg.sandbox.network).toBe('none');
    expect(cfg.sandbox.limits).toEqual({ memory_bytes: 2 * 1024 ** 3, pids: 1024, cpus: 1, open_files: 4096, disk_bytes: 8 * 1024 ** 3 });
    expect(cfg.sandbox.fresh_per_request).toBe(false);
    expect(cfg.pool.enabled).toBe(true);
  });

  test('paranoid: like server, plus fresh sandbox per request, network none and tighter limits', () => {
    const server = parse({ profile: 'server' });
    const cfg = parse({ profile: 'paranoid' });
    expect(cfg.isolation.require_kernel).toBe(true);
    expect(cfg.auth.providers.map((p) => p.type)).not.toContain('allow-all');
    expect(cfg.sandbox.network).toBe('none');
    expect(cfg.sandbox.fresh_per_request).toBe(true);
    expect(cfg.sandbox.limits.memory_bytes!).toBeLessThan(server.sandbox.limits.memory_bytes!);
    expect(cfg.sandbox.limits.pids!).toBeLessThan(server.sandbox.limits.pids!);
    expect(cfg.limits.max_exec_timeout_ms).toBeLessThan(server.limits.max_exec_timeout_ms);
    expect(cfg.limits.max_output_bytes).toBeLessThan(server.limits.max_output_bytes);
    expect(cfg.adapters.http.body_limit_bytes).toBeLessThan(server.adapters.http.body_limit_bytes);
  });

  test('custom: no auth implied (providers must come from the file); limits on by default', () => {
    const issues = issuesOf({ profile: 'custom' }).issues;
    expect(issues).toEqual([{ path: 'auth.providers', message: expect.stringContaining("profile 'custom' implies none") }]);
    const cfg = parse({ profile: 'custom', auth: { providers: [{ type: 'api-key' }] }, sandbox: { network: 'host' } });
    expect(cfg.isolation.require_kernel).toBe(false);
    expect(cfg.sandbox.network).toBe('host');
    expect(cfg.sandbox.limits).toEqual({ memory_bytes: 1024 ** 3, pids: 512, cpus: 1, disk_bytes: 2 * 1024 ** 3 });
    expect(cfg.sandbox.ttl_ms).toBeUndefined();
  });

  test('every preset satisfies its own profile rules', () => {
    for (const [profile, rules] of Object.entries(PROFILE_RULES)) {
      const preset = PRESETS[profile as keyof typeof PRESETS];
      expect(rules.networks).toContain(preset.sandbox.network);
      if (rules.requireKernel) expect(preset.isolation.require_kernel).toBe(true);
      if (rules.freshPerRequest) expect(preset.sandbox.fresh_per_request).toBe(true);
      if (!rules.allowAllowAllAuth) expect(preset.auth.providers.map((p) => p.type)).not.toContain('allow-all');
    }
  });

  test('explicit values override the preset where the profile allows it', () => {
    const cfg = parse({ profile: 'server', sandbox: { limits: { pids: 50 }, max_sandboxes: 10 }, pool: { min_warm: 1, max_warm: 2 } });
    expect(cfg.sandbox.limits).toEqual({ memory_bytes: 2 * 1024 ** 3, pids: 50, cpus: 1, open_files: 4096, disk_bytes: 8 * 1024 ** 3 });
    expect(cfg.sandbox.max_sandboxes).toBe(10);
    expect(cfg.pool).toMatchObject({ enabled: true, min_warm: 1, max_warm: 2 });
  });
});

describe('home and socket defaults', () => {
  test('root uses /var/lib/agentd', () => {
    const cfg = parseConfig({}, USER_ENV, { uid: 0 });
    expect(cfg.home).toBe('/var/lib/agentd');
    expect(cfg.adapters.unix.path).toBe('/var/lib/agentd/agentd.sock');
  });

  test('a user uses $XDG_DATA_HOME/agentd when it is absolute, else ~/.local/share/agentd', () => {
    expect(parse({}, { HOME: '/home/alice', XDG_DATA_HOME: '/data/xdg' }).home).toBe('/data/xdg/agentd');
    expect(parse({}, { HOME: '/home/alice', XDG_DATA_HOME: 'relative' }).home).toBe('/home/alice/.local/share/agentd');
  });

  test('the socket follows an explicit home, unless set itself', () => {
    expect(parse({ home: '/srv/agentd' }).adapters.unix.path).toBe('/srv/agentd/agentd.sock');
    expect(parse({ home: '/srv/agentd', adapters: { unix: { path: '/run/agentd.sock' } } }).adapters.unix.path).toBe('/run/agentd.sock');
  });
});

describe('the result is frozen', () => {
  test('deep-frozen: nothing can be changed after validation', () => {
    const cfg = parse({ sandbox: { host_path_roots: ['/opt'], allowed_paths_ro: ['/opt/tools'] } });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.sandbox.limits)).toBe(true);
    expect(Object.isFrozen(cfg.sandbox.allowed_paths_ro)).toBe(true);
    expect(Object.isFrozen(cfg.auth.providers[0])).toBe(true);
    expect(() => {
      (cfg.sandbox as { network: string }).network = 'none';
    }).toThrow(TypeError);
  });

  test('the presets are not modified by parsing', () => {
    const before = JSON.stringify(PRESETS);
    parse({ profile: 'server', sandbox: { limits: { pids: 1 } } });
    expect(JSON.stringify(PRESETS)).toBe(before);
    expect(Object.isFrozen(PRESETS.server.sandbox.limits)).toBe(true);
  });

  test('the input object is not modified', () => {
    const input = { sandbox: { network: 'none' } };
    parse(input, { ...USER_ENV, AGENTD_NETWORK: 'host' });
    expect(input).toEqual({ sandbox: { network: 'none' } });
  });
});
