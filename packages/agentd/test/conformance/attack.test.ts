/**
 * The attack suite per backend: the sandbox-side attacks of the project's security tests
 * (docs/security.md; test/attack, test/namespace, test/daemon/front-door.test.ts), run from
 * inside a sandbox of every available backend by a static program (fixtures/attack.c), each
 * asserting the attack fails for the right reason (its errno) and that nothing on the host
 * changed.
 *
 * ATTACKS is the one table of outcomes. What a backend promises comes from its probe, never
 * from a list of backend names: a row names the probe features that back its promise, and a
 * backend promises the row exactly when one of them is ok (so a backend cannot claim more
 * than it reports). A row no feature backs is a skipped test whose title says why (host-direct:
 * nothing about processes or files outside the file API). The file API's confinement is promised
 * by every backend (agentd-init resolves every path beneath its file root).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { linkCachedImages, TEST_IMAGE } from '../images/helpers.js';
import { buildStaticFixtures, createSandbox, exec, feature, forEachSubject, SUBJECTS, startSubjectDaemon, unique, upload, type StaticFixtures, type Subject } from './harness.js';

/** What an attack needs from the test: the host things it aims at. */
interface Target {
  hostDir: string;
  secret: string;
  home: string;
  daemonPort: string;
  victim: number;
  sandboxId: string;
  rand: string;
}

interface Attack {
  name: string;
  /** Why it matters, and where the project's own security test for it lives. */
  about: string;
  /** Probe features that back the promise: the attack must fail when any of them is ok. [] = every backend promises it. */
  promisedBy: string[] | ((s: Subject) => string[]);
  /** Arguments of fixtures/attack.c. */
  argv(t: Target): string[];
  /** What the program must print: `ERR <errno>` with one of these errnos, or an exact line. */
  refused: { errnos: string[] } | { line: string };
  /** A host-side check after the attempt: nothing changed. */
  after?(t: Target): Promise<void>;
  /** Not an attack for root inside an image (it writes its own layer, it is uid 0 already). */
  notForRoot?: boolean;
}

const ATTACKS: Attack[] = [
  {
    name: "read a host file outside the sandbox's paths",
    about: 'the host file system beyond the rules (docs/security.md 2.3; test/attack/paths-config.test.ts)',
    promisedBy: ['filesystem'],
    argv: (t) => ['read', `${t.hostDir}/secret`],
    refused: { errnos: ['ENOENT', 'EACCES', 'EPERM'] },
  },
  {
    name: 'write into /usr/bin',
    notForRoot: true,
    about: "system folders are read-only (test/namespace/filesystem.test.ts)",
    promisedBy: ['filesystem', 'hostUid'],
    argv: (t) => ['write', `/usr/bin/agentd-conformance-${t.rand}`],
    refused: { errnos: ['EROFS', 'EACCES', 'EPERM'] },
    after: async (t) => expect(existsSync(`/usr/bin/agentd-conformance-${t.rand}`)).toBe(false),
  },
  {
    name: 'write into /etc',
    notForRoot: true,
    about: "system folders are read-only (test/namespace/filesystem.test.ts)",
    promisedBy: ['filesystem', 'hostUid'],
    argv: (t) => ['write', `/etc/agentd-conformance-${t.rand}`],
    refused: { errnos: ['EROFS', 'EACCES', 'EPERM'] },
    after: async (t) => expect(existsSync(`/etc/agentd-conformance-${t.rand}`)).toBe(false),
  },
  {
    name: "open the host's core_pattern for writing",
    about: 'the classic escape through a core handler run by host root (test/images/root-inside.test.ts)',
    promisedBy: ['filesystem', 'hostUid'],
    argv: () => ['open-write', '/proc/sys/kernel/core_pattern'],
    // ENOENT: a kernel of the sandbox's own (gVisor's) has no such file: the host's is out of reach.
    refused: { errnos: ['EROFS', 'EACCES', 'EPERM', 'ENOENT'] },
  },
  {
    name: "reach the daemon's TCP port",
    about: 'sandboxes never reach the daemon (docs/security.md 2.4; test/daemon/front-door.test.ts)',
    promisedBy: ['network'],
    argv: (t) => ['tcp', '127.0.0.1', t.daemonPort],
    refused: { errnos: ['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EACCES', 'EPERM'] },
  },
  {
    name: "reach the daemon's Unix socket",
    about: 'sandboxes never reach the daemon (docs/security.md 2.4; test/daemon/front-door.test.ts)',
    promisedBy: ['filesystem'],
    argv: (t) => ['unix', join(t.home, 'agentd.sock')],
    refused: { errnos: ['ENOENT', 'EACCES', 'EPERM', 'ECONNREFUSED'] },
  },
  {
    name: "read the daemon's local token",
    about: 'the token opens the daemon (docs/security.md 2.5; test/daemon/front-door.test.ts)',
    promisedBy: ['filesystem'],
    argv: (t) => ['read', join(t.home, 'agentd.token')],
    refused: { errnos: ['ENOENT', 'EACCES', 'EPERM'] },
  },
  {
    name: 'SIGKILL a host process',
    about: 'processes of the host are out of reach (test/namespace/syscalls.test.ts)',
    // A pid namespace hides it; an unprivileged host uid cannot signal a process of another uid (the victim is this test's, root when it runs as root).
    promisedBy: () => (process.getuid?.() === 0 ? ['pidNamespace', 'hostUid'] : ['pidNamespace']),
    argv: (t) => ['kill', String(t.victim)],
    refused: { errnos: ['ESRCH', 'EPERM'] },
    after: async (t) => expect(alive(t.victim)).toBe(true),
  },
  {
    name: 'ptrace a host process',
    about: 'processes of the host are out of reach (test/namespace/syscalls.test.ts, test/attack/init-dumpable.test.ts)',
    promisedBy: () => (process.getuid?.() === 0 ? ['pidNamespace', 'hostUid', 'seccomp'] : ['pidNamespace', 'seccomp']),
    argv: (t) => ['ptrace', String(t.victim)],
    refused: { errnos: ['ESRCH', 'EPERM'] },
    after: async (t) => {
      expect(alive(t.victim)).toBe(true);
      expect((await readFile(`/proc/${t.victim}/status`, 'utf8')).match(/^TracerPid:\s*(\d+)/m)?.[1]).toBe('0');
    },
  },
  {
    name: 'mount a tmpfs',
    about: 'no mounts from inside (test/namespace/syscalls.test.ts)',
    promisedBy: ['seccomp', 'hostUid'],
    argv: () => ['mount', '.'],
    refused: { errnos: ['EPERM'] },
  },
  {
    name: 'raise the hard open-files limit',
    about: 'limits cannot be raised from inside (test/namespace/limits.test.ts)',
    promisedBy: ['hostUid', 'userNamespace'],
    argv: () => ['rlimit'],
    refused: { errnos: ['EPERM'] },
  },
  {
    name: 'become root with setuid(0)',
    notForRoot: true,
    about: 'no way back to uid 0 (test/namespace/syscalls.test.ts)',
    promisedBy: ['hostUid', 'userNamespace'],
    argv: () => ['setuid'],
    refused: { errnos: ['EPERM', 'EINVAL'] },
  },
  {
    name: 'gain privileges through a setuid program (no_new_privs is set)',
    about: 'seccomp needs no_new_privs: a setuid binary gives nothing (test/namespace/syscalls.test.ts)',
    promisedBy: ['seccomp'],
    argv: () => ['nnp'],
    refused: { line: 'NNP 1' },
  },
];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function backing(s: Subject, a: Attack): { promised: boolean; by: string[]; why: string } {
  const names = typeof a.promisedBy === 'function' ? a.promisedBy(s) : a.promisedBy;
  if (names.length === 0) return { promised: true, by: [], why: 'every backend' };
  const by = names.filter((n) => feature(s, n)?.ok === true);
  const why = names.map((n) => `${n}: ${feature(s, n)?.ok === true ? 'ok' : feature(s, n) === undefined ? 'not reported' : `not ok (${feature(s, n)?.detail ?? ''})`}`).join('; ');
  return { promised: by.length > 0, by, why };
}

/** Runs one attack in a sandbox and asserts it failed for a promised reason and left the host as it was. */
async function attempt(d: TestDaemon, id: string, a: Attack, t: Target, user?: 'root'): Promise<void> {
  expect(alive(t.victim)).toBe(true);
  const r = await exec(d, id, { argv: ['./bin/attack', ...a.argv(t)], ...(user === undefined ? {} : { user }) });
  expect(r.exit_code, r.stderr).toBe(0);
  const line = r.stdout.trim();
  if ('line' in a.refused) expect(line).toBe(a.refused.line);
  else {
    expect(line, a.about).toMatch(/^ERR [A-Z]+$/);
    expect(a.refused.errnos, `${a.name}: ${line}`).toContain(line.slice(4));
  }
  await a.after?.(t);
}

/** The outcome table, printed once per run (attacks by backend) so a reader sees what each backend promises. */
function printTable(): void {
  const subjects = SUBJECTS.filter((s) => s.probe.available);
  const width = Math.max(...ATTACKS.map((a) => a.name.length));
  const head = `${'attack'.padEnd(width)} | ${subjects.map((s) => s.label).join(' | ')}`;
  const rows = ATTACKS.map((a) => `${a.name.padEnd(width)} | ${subjects.map((s) => (backing(s, a).promised ? 'refused' : 'no promise').padEnd(s.label.length)).join(' | ')}`);
  console.log(`attack outcomes each backend's probe promises:\n${head}\n${rows.join('\n')}`);
}
printTable();

forEachSubject('attacks', (s) => {
  let d: TestDaemon;
  let fx: StaticFixtures;
  let t: Target;
  let victim: ChildProcess;
  beforeAll(async () => {
    fx = await buildStaticFixtures(['attack']);
    d = await startSubjectDaemon(s);
    const sandboxId = await createSandbox(d);
    await upload(d, sandboxId, fx, 'attack');
    const hostDir = await mkdtemp(join(tmpdir(), 'agentd-conformance-attack-'));
    await chmod(hostDir, 0o755);
    const secret = unique('attack-secret-');
    await writeFile(join(hostDir, 'secret'), secret);
    await chmod(join(hostDir, 'secret'), 0o644);
    victim = spawn('sleep', ['3600'], { stdio: 'ignore' });
    t = {
      hostDir, secret, home: d.home, daemonPort: new URL(d.url).port, victim: victim.pid ?? -1, sandboxId, rand: unique(''),
    };
  }, 120_000);
  afterAll(async () => {
    victim?.kill('SIGKILL');
    await d?.close();
    await fx?.cleanup();
    if (t?.hostDir) await rm(t.hostDir, { recursive: true, force: true });
  });

  it('control: the attack program works where nothing stops it (reads and writes its own files, kills its own child)', async () => {
    const r = await exec(d, t.sandboxId, { command: './bin/attack read bin/attack; ./bin/attack write own-file; sleep 1000 & ./bin/attack kill $!; wait' });
    expect(r.stdout, r.stderr).toBe('OK\nOK\nOK\n');
  });

  for (const a of ATTACKS) {
    const b = backing(s, a);
    if (!b.promised) {
      it.skip(`${a.name}: no promise (${b.why})`, () => undefined);
      continue;
    }
    it(`${a.name}: refused (promised by ${b.by.join(', ') || 'every backend'})`, () => attempt(d, t.sandboxId, a, t));
  }

  // The same attacks as root inside a sandbox with an image (uid 0 mapped to an unprivileged
  // host uid), where the backend offers it: rootInside ok, or not reported and an image accepted.
  const rootInside = feature(s, 'rootInside');
  const rootRows = ATTACKS.filter((a) => !a.notForRoot);
  if (rootInside?.ok === false || process.getuid?.() !== 0) {
    it.skip(`as root inside an image: skipped (${rootInside?.ok === false ? `probe: rootInside not ok (${rootInside.detail ?? ''})` : 'the image store needs a root daemon'})`, () => undefined);
  } else {
    describe('as root inside an image', () => {
      let rootId: string | undefined;
      let refusal: string | undefined;
      beforeAll(async () => {
        await linkCachedImages(d.home);
        const c = await d.call('POST', '/v1/sandboxes', { body: { image: TEST_IMAGE } });
        if (c.status !== 201) {
          // Only a probe that does not report rootInside may refuse (images.test.ts holds the refusal to a clear code).
          expect(rootInside, c.text).toBeUndefined();
          refusal = `${c.body?.error?.code}: ${c.body?.error?.message}`;
          console.warn(`conformance attacks [${s.label}]: root inside skipped: the probe does not report rootInside and an image is refused (${refusal})`);
          return;
        }
        rootId = c.body.id as string;
        await upload(d, rootId, fx, 'attack');
        const who = await exec(d, rootId, { command: 'id -u', user: 'root' });
        expect(who.stdout).toBe('0\n');
      }, 900_000);

      for (const a of rootRows) {
        const b = backing(s, a);
        if (!b.promised) {
          it.skip(`${a.name} (root inside): no promise (${b.why})`, () => undefined);
          continue;
        }
        it(`${a.name} (root inside): refused (promised by ${b.by.join(', ') || 'every backend'})`, async (ctx) => {
          if (rootId === undefined) {
            ctx.skip(`an image is refused: ${refusal ?? ''}`);
            return;
          }
          await attempt(d, rootId, a, { ...t, sandboxId: rootId }, 'root');
        });
      }
    });
  }

  it('file API: a symlink or .. never reads, writes or lists a host file (every backend: agentd-init resolves beneath its file root)', async () => {
    const id = t.sandboxId;
    expect((await exec(d, id, { command: `ln -sfn ${t.hostDir} hostlink && ln -sfn ${t.hostDir}/secret secretlink` })).exit_code).toBe(0);
    for (const p of ['hostlink/secret', 'secretlink', `../../../../../..${t.hostDir}/secret`]) {
      const r = await d.call('GET', `/v1/sandboxes/${id}/files?path=${encodeURIComponent(p)}`);
      expect(r.text, p).not.toContain(t.secret);
    }
    for (const p of ['hostlink/planted', `../../../../../..${t.hostDir}/planted`]) {
      await d.call('PUT', `/v1/sandboxes/${id}/files?path=${encodeURIComponent(p)}`, { raw: 'x' });
    }
    await d.call('POST', `/v1/sandboxes/${id}/files/rename`, { body: { from: 'hostlink/secret', to: 'stolen' } });
    await d.call('DELETE', `/v1/sandboxes/${id}/files?path=hostlink/secret`);
    expect((await readdir(t.hostDir)).sort()).toEqual(['secret']);
    expect(await readFile(join(t.hostDir, 'secret'), 'utf8')).toBe(t.secret);
  });
});
