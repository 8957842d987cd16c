import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { parse as parseToml } from 'smol-toml';
import { checkConfigFile, InvalidConfigError, loadConfig } from '../../src/config/index.js';
import { USER_ENV, USER_UID } from './helpers.js';

const repoRoot = new URL('../../../../', import.meta.url);
const examplePath = new URL('examples/agentd.toml', repoRoot);
const docsPath = new URL('docs/configuration.md', repoRoot);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentd-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

async function loadError(p: Promise<unknown>): Promise<InvalidConfigError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof InvalidConfigError)) throw new Error(`expected InvalidConfigError, got ${String(err)}`);
  return err;
}

describe('loadConfig', () => {
  test('reads TOML, and env overrides the file', async () => {
    const file = await write('agentd.toml', 'profile = "server"\n[adapters.http]\nlisten = "127.0.0.1:7171"\n[log]\nlevel = "warn"\n');
    const cfg = await loadConfig({ file, env: { ...USER_ENV, AGENTD_LOG_LEVEL: 'error' }, uid: USER_UID });
    expect(cfg.profile).toBe('server');
    expect(cfg.adapters.http.listen).toBe('127.0.0.1:7171');
    expect(cfg.log.level).toBe('error');
    expect(Object.isFrozen(cfg.adapters.http)).toBe(true);
  });

  test('a TOML octal socket mode is read as octal', async () => {
    const file = await write('agentd.toml', '[adapters.unix]\nmode = 0o600\n');
    expect((await loadConfig({ file, env: USER_ENV, uid: USER_UID })).adapters.unix.mode).toBe(0o600);
  });

  test('a missing named file is an error, not the defaults', async () => {
    const missing = join(dir, 'nope.toml');
    const err = await loadError(loadConfig({ file: missing, env: USER_ENV, uid: USER_UID }));
    expect(err.issues).toEqual([{ path: missing, message: 'file not found' }]);
  });

  test('a missing $AGENTD_CONFIG file is an error too', async () => {
    const missing = join(dir, 'nope.toml');
    const err = await loadError(loadConfig({ env: { ...USER_ENV, AGENTD_CONFIG: missing }, uid: USER_UID }));
    expect(err.issues[0]?.path).toBe(missing);
  });

  test('a directory is an error', async () => {
    const err = await loadError(loadConfig({ file: dir, env: USER_ENV, uid: USER_UID }));
    expect(err.issues[0]?.message).toContain('is a directory');
  });

  test('the default path is optional, and used when present', async () => {
    const env = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg') };
    expect((await loadConfig({ env, uid: USER_UID })).profile).toBe('workstation');
    await mkdir(join(dir, 'xdg', 'agentd'), { recursive: true });
    await writeFile(join(dir, 'xdg', 'agentd', 'agentd.toml'), 'profile = "server"\n');
    expect((await loadConfig({ env, uid: USER_UID })).profile).toBe('server');
  });

  test('a TOML syntax error reports the file, line and column', async () => {
    const file = await write('bad.toml', 'profile = "server"\n\n[pool]\nmin_warm = = 2\n');
    const err = await loadError(loadConfig({ file, env: USER_ENV, uid: USER_UID }));
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.path).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+$`));
    expect(err.issues[0]?.message).toMatch(/^TOML syntax error at line 4, column \d+: /);
    expect(err.message).toContain(file);
  });

  test('validation issues name the file in the error message', async () => {
    const file = await write('agentd.toml', '[pool]\nmin_warm = 9\nmax_warm = 1\n[sandbox]\nnetwork = "moon"\n');
    const err = await loadError(loadConfig({ file, env: USER_ENV, uid: USER_UID }));
    expect(err.issues.map((i) => i.path)).toEqual(['sandbox.network', 'pool.min_warm']);
    expect(err.message).toContain(`configuration (${file})`);
  });

  test('an aborted signal rejects', async () => {
    const file = await write('agentd.toml', '');
    await expect(loadConfig({ file, env: USER_ENV, uid: USER_UID, signal: AbortSignal.abort() })).rejects.toThrow();
  });
});

describe('checkConfigFile (agentd config check)', () => {
  test('ok with the config', async () => {
    const file = await write('agentd.toml', 'profile = "paranoid"\n');
    const result = await checkConfigFile(file, USER_ENV, { uid: USER_UID });
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.config.sandbox.fresh_per_request).toBe(true);
      expect(result.file).toBe(file);
    }
  });

  test('not ok with every issue', async () => {
    const file = await write('agentd.toml', 'profile = "paranoid"\n[sandbox]\nnetwork = "host"\n[adapters.unix]\nmode = "0600"\n[[auth.providers]]\ntype = "allow-all"\n');
    const result = await checkConfigFile(file, USER_ENV, { uid: USER_UID });
    expect(result).toEqual({
      ok: false,
      file,
      issues: [
        { path: 'auth.providers[0]', message: expect.stringContaining("profile 'paranoid' requires a real auth provider") },
        { path: 'sandbox.network', message: expect.stringContaining("profile 'paranoid' allows network 'none' only") },
      ],
    });
  });

  test('backend option tables are checked by the given checker, with the other issues', async () => {
    const file = await write('agentd.toml', '[isolation.backends.bwrap]\nseccomp = "yes"\n[pool]\nmin_warm = 99\n');
    const seen: unknown[] = [];
    const result = await checkConfigFile(file, USER_ENV, {
      uid: USER_UID,
      checkBackendOptions: (backends) => {
        seen.push(backends);
        return [{ path: 'isolation.backends.bwrap.seccomp', message: 'expected boolean' }];
      },
    });
    expect(seen).toEqual([{ bwrap: { seccomp: 'yes' } }]);
    expect(result.ok ? [] : result.issues.map((i) => i.path)).toEqual(['isolation.backends.bwrap.seccomp', 'pool.min_warm']);
  });

  test('a missing file is reported as an issue', async () => {
    const result = await checkConfigFile(join(dir, 'missing.toml'), USER_ENV, { uid: USER_UID });
    expect(result.ok).toBe(false);
  });
});

describe('the shipped example and the docs', () => {
  test('examples/agentd.toml validates', async () => {
    const cfg = await loadConfig({ file: examplePath.pathname, env: {}, uid: 0 });
    expect(cfg.profile).toBe('server');
    expect(cfg.auth.providers.map((p) => p.type)).toEqual(['local-token', 'peer-creds', 'api-key', 'jwt', 'signature']);
  });

  test('the example in docs/configuration.md is the shipped file', async () => {
    const docs = await readFile(docsPath, 'utf8');
    const example = await readFile(examplePath, 'utf8');
    const block = /## Full example[\s\S]*?```toml\n([\s\S]*?)```/.exec(docs)?.[1];
    expect(block).toBe(example);
    expect(parseToml(block ?? '')).toEqual(parseToml(example));
  });
});
