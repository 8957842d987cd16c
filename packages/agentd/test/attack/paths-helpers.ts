/**
 * Shared fixture of the host-path attack tests: a real server-profile daemon (namespace
 * backend, real bwrap and cgroups) with API keys for two tenants and an admin, and folders
 * outside the daemon's home the tests mount or aim at.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeyService } from '../../src/auth/api-key.js';
import { startTestDaemon, type Answer, type TestDaemon } from '../daemon/harness.js';
import { isRoot, noteSkip, skipReason } from '../namespace/fixture.js';

/** Why the suite cannot run here (no bwrap, init not built; the daemon drops to a sandbox uid as root only). */
export const pathsSkip = skipReason ?? (isRoot ? undefined : 'the attack suite runs the daemon as root (sandboxes as their own host uid)');
noteSkip('host-path attack tests', pathsSkip);

export interface PathsDaemon {
  d: TestDaemon;
  /** Bearer headers of: a user of tenant A, a user of tenant B, an admin of tenant B. */
  userA: Record<string, string>;
  userB: Record<string, string>;
  admin: Record<string, string>;
  close(): Promise<void>;
}

export async function startPathsDaemon(overrides: Record<string, unknown> = {}): Promise<PathsDaemon> {
  const d = await startTestDaemon({
    profile: 'server',
    pool: { enabled: false, min_warm: 0 },
    auth: { providers: [{ type: 'api-key' }] },
    ...overrides,
  });
  const keys = new ApiKeyService(d.daemon.store.apiKeys);
  const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
  return {
    d,
    userA: bearer(keys.create({ subject: 'alice', tenant: 'tenant-a', roles: ['user'] }).key),
    userB: bearer(keys.create({ subject: 'bob', tenant: 'tenant-b', roles: ['user'] }).key),
    admin: bearer(keys.create({ subject: 'root-op', tenant: 'tenant-b', roles: ['admin'] }).key),
    close: () => d.close(),
  };
}

/** A fresh folder under the system temp dir, searchable by the sandboxes' host uid. */
export async function hostDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `agentd-paths-${prefix}-`));
  await chmod(dir, 0o755);
  return dir;
}

export const removeDirs = (...dirs: string[]): Promise<unknown> => Promise.all(dirs.map((x) => rm(x, { recursive: true, force: true })));

/** Asserts an error answer: status, code and (when given) the rule in details. */
export function refusal(r: Answer): { status: number; code: string; rule: unknown; message: string } {
  return { status: r.status, code: r.body?.error?.code, rule: r.body?.error?.details?.rule, message: String(r.body?.error?.message ?? r.text) };
}

/** Runs a shell command in a sandbox through the REST exec route; stdout, stderr, exit code. */
export async function shIn(p: PathsDaemon, headers: Record<string, string>, id: string, command: string): Promise<{ out: string; err: string; code: number | null }> {
  const r = await p.d.call('POST', `/v1/sandboxes/${id}/exec`, { headers, body: { command } });
  if (r.status !== 200) throw new Error(`exec answered ${r.status}: ${r.text}`);
  return { out: String(r.body.stdout).trim(), err: String(r.body.stderr).trim(), code: r.body.exit_code as number | null };
}
