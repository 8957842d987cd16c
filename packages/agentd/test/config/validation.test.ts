import { describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { InvalidConfigError } from '../../src/config/index.js';
import { issuesOf, messageAt, parse } from './helpers.js';

describe('every problem at once, as path: message', () => {
  const bad = {
    profile: 'workstation',
    sandbox: { netwrok: 'none', limits: { pids: 'many' } },
    pool: { min_warm: 9, max_warm: 3 },
    adapters: { http: { listen: 'localhost' } },
    log: { level: 'loud' },
    extra_section: {},
  };

  test('all issues are listed, none silently defaulted', () => {
    const { error, issues, paths } = issuesOf(bad);
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect(error).toBeInstanceOf(AgentdError);
    expect(error.code).toBe('INVALID_CONFIG');
    expect(new Set(paths)).toEqual(new Set(['sandbox.netwrok', 'sandbox.limits.pids', 'pool.min_warm', 'adapters.http.listen', 'log.level', 'extra_section']));
    expect(issues).toHaveLength(6);
  });

  test('format() gives one "path: message" line per issue, and the error message carries them', () => {
    const { error } = issuesOf(bad);
    const lines = error.format().split('\n');
    expect(lines).toHaveLength(error.issues.length);
    error.issues.forEach((issue, i) => expect(lines[i]).toBe(`${issue.path}: ${issue.message}`));
    expect(error.message).toContain('6 problems');
    expect(error.message).toContain(error.format());
    expect(error.details.issues).toEqual(error.issues);
    expect(Object.isFrozen(error.issues)).toBe(true);
  });

  test('unknown keys are named, with a suggestion for a near miss', () => {
    const { issues } = issuesOf(bad);
    expect(messageAt(issues, 'sandbox.netwrok')).toBe('unknown key (did you mean "network"?)');
    expect(messageAt(issues, 'extra_section')).toMatch(/^unknown key; expected one of: profile, home, isolation, adapters, auth, sandbox, network, pool, limits, commands, audit, log, templates$/);
  });

  test('unknown keys inside a provider are found per provider type', () => {
    const { issues } = issuesOf({ auth: { providers: [{ type: 'signature', windows_s: 10 }] } });
    expect(messageAt(issues, 'auth.providers[0].windows_s')).toBe('unknown key (did you mean "window_s"?)');
  });

  test('min_warm > max_warm is refused with the reason', () => {
    const { issues } = issuesOf({ pool: { min_warm: 5, max_warm: 2 } });
    expect(messageAt(issues, 'pool.min_warm')).toContain('must not exceed max_warm');
  });

  test('min_warm above the preset max_warm is refused too (checked after the preset is merged)', () => {
    const { issues } = issuesOf({ pool: { min_warm: 5 } });
    expect(messageAt(issues, 'pool.min_warm')).toContain('must not exceed max_warm');
  });

  test('a pool larger than max_sandboxes is refused', () => {
    const { issues } = issuesOf({ pool: { enabled: true, max_warm: 10 }, sandbox: { max_sandboxes: 4 } });
    expect(messageAt(issues, 'pool.max_warm')).toContain('must not exceed sandbox.max_sandboxes (4)');
  });

  test('a "__proto__" key is an unknown key, never a prototype', () => {
    const input = JSON.parse('{"sandbox": {"__proto__": {"network": "none"}}, "__proto__": {"profile": "server"}}') as Record<string, unknown>;
    const { paths } = issuesOf(input);
    expect(paths.sort()).toEqual(['__proto__', 'sandbox.__proto__']);
    expect(({} as Record<string, unknown>).network).toBeUndefined();
  });

  test('a non-table configuration is refused', () => {
    expect(issuesOf([1, 2]).paths).toEqual(['(root)']);
  });
});

describe('profile rules: explicit values may not break the profile', () => {
  test('paranoid + network host is an error, not silently fixed', () => {
    const { issues } = issuesOf({ profile: 'paranoid', sandbox: { network: 'host' } });
    expect(issues.map((i) => i.path)).toEqual(['sandbox.network']);
    expect(messageAt(issues, 'sandbox.network')).toContain("profile 'paranoid' allows network 'none' only, not 'host'");
  });

  test('paranoid + network allowlist is an error', () => {
    expect(messageAt(issuesOf({ profile: 'paranoid', sandbox: { network: 'allowlist' } }).issues, 'sandbox.network')).toContain("not 'allowlist'");
  });

  test('server + network host is an error; allowlist is fine', () => {
    expect(messageAt(issuesOf({ profile: 'server', sandbox: { network: 'host' } }).issues, 'sandbox.network')).toContain("profile 'server' allows network 'none' or 'allowlist' only");
    expect(parse({ profile: 'server', sandbox: { network: 'allowlist' } }).sandbox.network).toBe('allowlist');
  });

  test('paranoid may not turn fresh_per_request off', () => {
    expect(messageAt(issuesOf({ profile: 'paranoid', sandbox: { fresh_per_request: false } }).issues, 'sandbox.fresh_per_request')).toContain('requires a fresh sandbox per request');
  });

  test.each(['server', 'paranoid'])('%s + allow-all is an error naming the profile', (profile) => {
    const { issues } = issuesOf({ profile, auth: { providers: [{ type: 'api-key' }, { type: 'allow-all' }] } });
    expect(messageAt(issues, 'auth.providers[1]')).toBe(`profile '${profile}' requires a real auth provider: allow-all accepts every caller without credentials; use api-key, jwt, signature or peer-creds`);
  });

  test.each(['server', 'paranoid'])('%s + a soft backend (by name or alias) is an error', (profile) => {
    for (const backend of ['host-direct', 'none', 'host', 'workstation']) {
      const msg = messageAt(issuesOf({ profile, isolation: { backend } }).issues, 'isolation.backend');
      expect(msg).toContain(`profile '${profile}' requires kernel isolation, but backend '${backend}'`);
      expect(msg).toContain("use backend 'namespace' (bwrap) or profile 'workstation'");
    }
  });

  test.each(['server', 'paranoid'])('%s may not set require_kernel = false', (profile) => {
    expect(messageAt(issuesOf({ profile, isolation: { require_kernel: false } }).issues, 'isolation.require_kernel')).toContain(`profile '${profile}' requires kernel isolation`);
  });

  test('custom + require_kernel + host-direct is an error; workstation + host-direct is fine', () => {
    expect(messageAt(issuesOf({ profile: 'custom', auth: { providers: [{ type: 'api-key' }] }, isolation: { require_kernel: true, backend: 'none' } }).issues, 'isolation.backend')).toContain('isolation.require_kernel requires kernel isolation');
    expect(parse({ isolation: { backend: 'host-direct' } }).isolation.backend).toBe('host-direct');
  });

  test('a reserved backend is refused as not implemented yet', () => {
    expect(messageAt(issuesOf({ isolation: { backend: 'microvm' } }).issues, 'isolation.backend')).toMatch(/^backend 'firecracker' \(microvm\) is not implemented yet; use 'namespace' \(bwrap\)/);
  });

  test('a user-registered backend name is accepted (the registry resolves it at start)', () => {
    expect(parse({ isolation: { backend: 'my-vm' } }).isolation.backend).toBe('my-vm');
    expect(messageAt(issuesOf({ isolation: { backend: 'My VM' } }).issues, 'isolation.backend')).toContain('must be "auto" or a backend name');
  });

  test('profile rules are still checked when other parts of the file are broken', () => {
    const { paths } = issuesOf({ profile: 'paranoid', sandbox: { network: 'host', limits: { pids: -1 } }, auth: { providers: [{ type: 'jwt' }, { type: 'allow-all' }] } });
    expect(paths).toEqual(expect.arrayContaining(['sandbox.limits.pids', 'auth.providers[0].issuer', 'sandbox.network', 'auth.providers[1]']));
  });
});

describe('auth providers', () => {
  const jwt = { type: 'jwt', issuer: 'https://issuer.example', audience: 'agentd', algorithms: ['RS256'], jwks_url: 'https://issuer.example/jwks.json' };

  test('a valid chain parses with defaults filled', () => {
    const cfg = parse({ auth: { providers: [jwt, { type: 'signature' }, { type: 'peer-creds', uid_map: { '1000': { subject: 'alice' } } }] } });
    expect(cfg.auth.providers).toEqual([
      { ...jwt, leeway_s: 30, subject_claim: 'sub', tenant_claim: 'tenant', roles_claim: 'roles' },
      { type: 'signature', window_s: 300 },
      { type: 'peer-creds', uid_map: { '1000': { subject: 'alice', tenant: 'default', roles: ['user'] } } },
    ]);
  });

  test('alg "none" is refused with the reason', () => {
    expect(messageAt(issuesOf({ auth: { providers: [{ ...jwt, algorithms: ['RS256', 'none'] }] } }).issues, 'auth.providers[0].algorithms[1]')).toContain('"none" means unsigned tokens');
  });

  test('an empty algorithm allowlist, an unknown algorithm and HS/RS mixing are refused', () => {
    expect(messageAt(issuesOf({ auth: { providers: [{ ...jwt, algorithms: [] }] } }).issues, 'auth.providers[0].algorithms')).toContain('at least one algorithm');
    expect(messageAt(issuesOf({ auth: { providers: [{ ...jwt, algorithms: ['XY999'] }] } }).issues, 'auth.providers[0].algorithms[0]')).toContain('unknown algorithm "XY999"');
    const mixed = issuesOf({ auth: { providers: [{ ...jwt, jwks_url: undefined, key: 'secret', algorithms: ['HS256', 'RS256'] }] } });
    expect(messageAt(mixed.issues, 'auth.providers[0].algorithms')).toContain('key confusion');
  });

  test('exactly one of key and jwks_url; jwks over plain http only on loopback', () => {
    expect(messageAt(issuesOf({ auth: { providers: [{ ...jwt, key: 'pem' }] } }).issues, 'auth.providers[0].key')).toContain('exactly one of key and jwks_url');
    expect(messageAt(issuesOf({ auth: { providers: [{ ...jwt, jwks_url: 'http://issuer.example/jwks' }] } }).issues, 'auth.providers[0].jwks_url')).toContain('must be https');
    expect(parse({ auth: { providers: [{ ...jwt, jwks_url: 'http://127.0.0.1:8080/jwks' }] } }).auth.providers[0]).toMatchObject({ jwks_url: 'http://127.0.0.1:8080/jwks' });
  });

  test('an unknown provider type is named', () => {
    expect(messageAt(issuesOf({ auth: { providers: [{ type: 'ldap' }] } }).issues, 'auth.providers[0].type')).toContain("'api-key' | 'jwt' | 'signature' | 'peer-creds' | 'local-token' | 'allow-all'");
  });

  test('[] is refused: nobody could authenticate', () => {
    expect(messageAt(issuesOf({ auth: { providers: [] } }).issues, 'auth.providers')).toContain('no caller could ever authenticate');
  });

  test('the same singleton provider twice is refused', () => {
    expect(messageAt(issuesOf({ auth: { providers: [{ type: 'api-key' }, { type: 'api-key' }] } }).issues, 'auth.providers[1]')).toContain('listed twice');
  });

  test('peer-creds uid_map keys must be numeric', () => {
    const { paths } = issuesOf({ auth: { providers: [{ type: 'peer-creds', uid_map: { alice: { subject: 'alice' } } }] } });
    expect(paths).toEqual(['auth.providers[0].uid_map.alice']);
  });

  test('allow-all needs an owner-only socket: 0660 and 0666 are refused, 0600 accepted', () => {
    const allowAll = { providers: [{ type: 'allow-all' }] };
    for (const mode of ['0660', '0666', '0640', '0606']) {
      expect(messageAt(issuesOf({ auth: allowAll, adapters: { unix: { mode } } }).issues, 'adapters.unix.mode')).toContain('with allow-all the socket must be owner-only (0o600)');
    }
    expect(parse({ auth: allowAll, adapters: { unix: { mode: '0600' } } }).adapters.unix.mode).toBe(0o600);
    // The default socket mode (0660) with allow-all: refused, so allow-all never comes by default.
    expect(messageAt(issuesOf({ auth: allowAll }).issues, 'adapters.unix.mode')).toContain('owner-only');
  });

  test('allow-all without the Unix socket is refused: it never serves TCP', () => {
    expect(messageAt(issuesOf({ auth: { providers: [{ type: 'allow-all' }] }, adapters: { unix: { enabled: false } } }).issues, 'auth.providers[0]')).toContain('allow-all only serves the Unix socket (never TCP)');
  });

  test('a non-loopback listen address is accepted: TCP always needs a credential', () => {
    expect(parse({ adapters: { http: { listen: '0.0.0.0:7070' } }, auth: { providers: [{ type: 'api-key' }] } }).adapters.http.listen).toBe('0.0.0.0:7070');
    expect(parse({ adapters: { http: { listen: '[::1]:7070' } } }).adapters.http.listen).toBe('[::1]:7070');
  });
});

describe('adapters', () => {
  test('socket mode accepts octal strings and numbers; a decimal-looking number is refused', () => {
    expect(parse({ adapters: { unix: { mode: '0600' } } }).adapters.unix.mode).toBe(0o600);
    expect(parse({ adapters: { unix: { mode: '0o640' } } }).adapters.unix.mode).toBe(0o640);
    expect(parse({ adapters: { unix: { mode: 0o600 } } }).adapters.unix.mode).toBe(0o600);
    expect(messageAt(issuesOf({ adapters: { unix: { mode: 660 } } }).issues, 'adapters.unix.mode')).toContain('decimal in TOML');
    expect(messageAt(issuesOf({ adapters: { unix: { mode: 'rw-rw----' } } }).issues, 'adapters.unix.mode')).toContain('octal');
  });

  test('grpc and nats are reserved: accepted when disabled, an error when enabled', () => {
    expect(parse({ adapters: { grpc: { enabled: false, listen: '127.0.0.1:9090' }, nats: { enabled: false, url: 'nats://127.0.0.1:4222' } } }).adapters.grpc.enabled).toBe(false);
    const { issues } = issuesOf({ adapters: { grpc: { enabled: true }, nats: { enabled: true } } });
    expect(messageAt(issues, 'adapters.grpc.enabled')).toContain('the gRPC adapter is not implemented yet');
    expect(messageAt(issues, 'adapters.nats.enabled')).toContain('the NATS adapter is not implemented yet');
  });

  test.each(['127.0.0.1', '127.0.0.1:', ':7070', '127.0.0.1:70000', '[nothex]:1', 'a b:1'])('listen %s is refused', (listen) => {
    expect(messageAt(issuesOf({ adapters: { http: { listen } } }).issues, 'adapters.http.listen')).toContain('HOST:PORT');
  });
});

describe('sandbox paths and env', () => {
  test('relative and non-normalized paths are refused', () => {
    const { issues } = issuesOf({ sandbox: { allowed_paths_ro: ['data', '/srv/../etc'], deny_paths: ['/ok', '/a//b'] } });
    expect(messageAt(issues, 'sandbox.allowed_paths_ro[0]')).toContain('must be an absolute path');
    expect(messageAt(issues, 'sandbox.allowed_paths_ro[1]')).toContain('must be normalized');
    expect(messageAt(issues, 'sandbox.deny_paths[1]')).toContain('must be normalized');
  });

  test('a host path over the agentd home (or /, or /proc) is refused, read-only too', () => {
    const { issues } = issuesOf({ home: '/srv/agentd', sandbox: { host_path_roots: ['/srv', '/data'], allowed_paths_rw: ['/', '/srv', '/srv/agentd/sandboxes/x', '/data'], allowed_paths_ro: ['/srv/agentd/state.db', '/proc/1'] } });
    expect(issues.map((i) => i.path)).toEqual(['sandbox.allowed_paths_ro[0]', 'sandbox.allowed_paths_ro[1]', 'sandbox.allowed_paths_rw[0]', 'sandbox.allowed_paths_rw[1]', 'sandbox.allowed_paths_rw[2]']);
    expect(messageAt(issues, 'sandbox.allowed_paths_rw[0]')).toContain("the host's root");
    expect(messageAt(issues, 'sandbox.allowed_paths_rw[1]')).toContain("contains '/srv/agentd'");
    expect(messageAt(issues, 'sandbox.allowed_paths_ro[0]')).toContain("is inside '/srv/agentd'");
    expect(messageAt(issues, 'sandbox.allowed_paths_ro[1]')).toContain('/proc');
  });

  test('host paths need sandbox.host_path_roots: none listed = no host path; a root is never /, a system tree or inside the home', () => {
    expect(messageAt(issuesOf({ sandbox: { allowed_paths_ro: ['/opt/tools'] } }).issues, 'sandbox.allowed_paths_ro[0]')).toContain('no sandbox.host_path_roots are configured');
    expect(messageAt(issuesOf({ sandbox: { host_path_roots: ['/srv'], allowed_paths_ro: ['/opt/tools'] } }).issues, 'sandbox.allowed_paths_ro[0]')).toContain('under none of sandbox.host_path_roots');
    const roots = issuesOf({ home: '/srv/agentd', sandbox: { host_path_roots: ['/', '/sys/fs', '/srv/agentd/x', '/srv'] } });
    expect(roots.issues.map((i) => i.path)).toEqual(['sandbox.host_path_roots[0]', 'sandbox.host_path_roots[1]', 'sandbox.host_path_roots[2]']);
    expect(parse({ sandbox: { host_path_roots: ['/opt'], allowed_paths_ro: ['/opt/tools'], deny_paths: ['/etc/shadow'] } }).sandbox.host_path_roots).toEqual(['/opt']);
  });

  test('env names are checked', () => {
    expect(issuesOf({ sandbox: { env: { 'BAD-NAME': 'x' } } }).paths).toEqual(['sandbox.env.BAD-NAME']);
    expect(parse({ sandbox: { env: { LANG: 'C.UTF-8' } } }).sandbox.env).toEqual({ LANG: 'C.UTF-8' });
  });

  test('a socket path longer than sun_path allows is refused, also when derived from home', () => {
    const longHome = `/srv/${'x'.repeat(110)}`;
    expect(messageAt(issuesOf({ home: longHome }).issues, 'adapters.unix.path')).toContain('a Unix socket path may have at most 107');
    expect(parse({ home: longHome, adapters: { unix: { path: '/run/agentd.sock' } } }).adapters.unix.path).toBe('/run/agentd.sock');
    expect(parse({ home: longHome, adapters: { unix: { enabled: false } } }).adapters.unix.enabled).toBe(false);
  });

  test('home must be absolute', () => {
    expect(messageAt(issuesOf({ home: 'var/agentd' }).issues, 'home')).toContain('must be an absolute path');
  });
});

describe('backend options', () => {
  test('tables keyed by alias are normalized to the canonical name', () => {
    expect(parse({ isolation: { backends: { bwrap: { seccomp: true }, 'my-vm': { cpus: 1 } } } }).isolation.backends).toEqual({ namespace: { seccomp: true }, 'my-vm': { cpus: 1 } });
  });

  test('two tables for the same backend are refused', () => {
    expect(issuesOf({ isolation: { backends: { bwrap: {}, namespace: {} } } }).paths).toEqual(['isolation.backends.namespace']);
  });
});
