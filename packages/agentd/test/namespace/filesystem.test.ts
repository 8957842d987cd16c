/**
 * File-system attacks from inside a namespace sandbox, through exec and through the
 * channel's file operations (which agentd-init performs inside the sandbox's own view).
 */
import { mkdtemp, mkdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SandboxOsError } from '../../src/core/errors.js';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { findInit } from '../../src/channel/host-kill.js';
import { attempt, harness, noteSkip, plantAttack, sh, skipReason, type Harness } from './fixture.js';

async function fsErrno(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (err instanceof SandboxOsError) return err.syscallCode;
    throw err;
  }
}

describe.skipIf(noteSkip('file-system attacks', skipReason))('namespace sandbox: file-system attacks', () => {
  let h: Harness;
  let a: SandboxHandle;
  let b: SandboxHandle;
  let shared: string;
  let hostSecret: string;

  beforeAll(async () => {
    h = await harness();
    // A host folder shared read-only, with entries the spec masks.
    shared = await mkdtemp(join(tmpdir(), 'agentd-ns-shared-'));
    await chmod(shared, 0o755);
    await writeFile(join(shared, 'public.txt'), 'public\n', { mode: 0o644 });
    await writeFile(join(shared, 'secret.txt'), 'TOP-SECRET\n', { mode: 0o644 });
    await mkdir(join(shared, 'private'), { mode: 0o755 });
    await writeFile(join(shared, 'private', 'key'), 'KEY\n', { mode: 0o644 });
    // A host file the daemon's user can write: the target of planted symlinks.
    hostSecret = join('/tmp', `agentd-ns-host-${process.pid}.txt`);
    await writeFile(hostSecret, 'host original\n');
    a = await h.start({
      allowedPathsRo: [shared],
      denyPaths: [join(shared, 'secret.txt'), join(shared, 'private'), '/workspace/.env'],
    });
    b = await h.start();
    await plantAttack(a);
    await writeFile(join(b.spec.dirs.workspace, 'b-only.txt'), 'b data\n');
  });

  afterAll(async () => {
    await h?.close();
    if (shared) await rm(shared, { recursive: true, force: true });
    if (hostSecret) await rm(hostSecret, { force: true });
  });

  test('system folders are read-only: writes fail with EROFS', async () => {
    expect(await attempt(a, 'write', '/usr/agentd-escape')).toBe('EROFS');
    expect(await attempt(a, 'write', '/usr/bin/agentd-escape')).toBe('EROFS');
    expect(await attempt(a, 'write', '/etc/passwd')).toBe('EROFS');
    expect(await attempt(a, 'write', '/etc/agentd-escape')).toBe('EROFS');
    // The sandbox's root itself is a read-only tmpfs: nothing new at the top.
    expect(await attempt(a, 'mkdir', '/agentd-escape')).toBe('EROFS');
  });

  test("the host's home does not exist in the sandbox (ENOENT), and cannot be created (EROFS)", async () => {
    const home = homedir();
    expect(await attempt(a, 'write', join(home, 'agentd-escape'))).toBe('ENOENT');
    // /root or /home/<user> on the host: not mounted, and the top level is read-only.
    expect(await attempt(a, 'mkdir', home)).toBe(home.startsWith('/home/') ? 'EEXIST' : 'EROFS');
  });

  test("another sandbox's workspace is unreachable: its host path does not exist here (ENOENT)", async () => {
    const other = join(b.spec.dirs.workspace, 'b-only.txt');
    expect(await attempt(a, 'read', other)).toBe('ENOENT');
    expect(await attempt(a, 'write', other)).toBe('ENOENT');
    expect(await fsErrno(a.channel.fs.write(other, 'overwritten'))).toBe('ENOENT');
    expect(await readFile(other, 'utf8')).toBe('b data\n');
    // Each sandbox has its own /workspace.
    expect((await sh(a, 'ls /workspace')).out).not.toContain('b-only.txt');
    expect((await sh(b, 'cat /workspace/b-only.txt')).out).toBe('b data');
  });

  test('two sandboxes cannot see each other\'s processes', async () => {
    await sh(a, 'sleep 300 >/dev/null 2>&1 & echo started');
    const inB = await sh(b, 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " "');
    expect(inB.out).not.toContain('sleep 300');
    const inA = await sh(a, 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " "');
    expect(inA.out).toContain('sleep 300');
  });

  test('masked paths: a masked file and directory read as EACCES, their unmasked sibling reads fine', async () => {
    expect(await attempt(a, 'read', join(shared, 'public.txt'))).toBe('ok public');
    expect(await attempt(a, 'read', join(shared, 'secret.txt'))).toBe('EACCES');
    expect(await attempt(a, 'read', join(shared, 'private', 'key'))).toBe('EACCES');
    expect(await fsErrno(a.channel.fs.read(join(shared, 'secret.txt')))).toBe('EACCES');
    expect(await fsErrno(a.channel.fs.list(join(shared, 'private')))).toBe('EACCES');
  });

  test('a deny path that does not exist yet is masked too: the sandbox cannot create it', async () => {
    expect(await attempt(a, 'write', '/workspace/.env/x')).toBe('EACCES');
    expect(await fsErrno(a.channel.fs.write('/workspace/.env', 'A=1'))).toBe('EISDIR');
    // The mask cannot be opened up again by its owner: the tmpfs is read-only.
    expect((await sh(a, 'chmod 777 /workspace/.env 2>&1; echo $?')).out).toMatch(/Read-only file system\n1$/);
  });

  test("escape with '..': the sandbox's root is its own, the host's sandbox folder is not above /workspace", async () => {
    // On the host, <root>/.ns-passwd sits next to the workspace; inside, /workspace/.. is the sandbox root.
    expect(await attempt(a, 'read', '/workspace/../.ns-passwd')).toBe('ENOENT');
    expect(await attempt(a, 'read', '/workspace/../../../../.ns-passwd')).toBe('ENOENT');
    expect(await fsErrno(a.channel.fs.read('../.ns-passwd'))).toBe('ENOENT');
    expect(await fsErrno(a.channel.fs.write('/workspace/../../../escape', 'x'))).toBe('EROFS');
    expect((await sh(a, 'ls /workspace/../..')).out.split('\n')).toEqual(expect.arrayContaining(['etc', 'usr', 'workspace']));
  });

  test('escape with symlinks planted in the workspace: they resolve inside the sandbox only', async () => {
    // Links to the host paths of a daemon-side file and of the other sandbox's file.
    await sh(a, `ln -s ${hostSecret} /workspace/to-host; ln -s ${join(b.spec.dirs.workspace, 'b-only.txt')} /workspace/to-b; ln -s / /workspace/to-root`);
    expect(await attempt(a, 'read', '/workspace/to-host')).toBe('ENOENT');
    expect(await fsErrno(a.channel.fs.read('/workspace/to-host'))).toBe('ENOENT');
    // The host file lives under the host's /tmp; inside, /tmp is the sandbox's own folder, so a
    // write through the link creates a file there (on the host: <sandbox>/tmp/<name>), not on the host's.
    expect(await fsErrno(a.channel.fs.write('/workspace/to-host', 'pwned'))).toBe('ok');
    expect(await readFile(join(a.spec.dirs.tmp, hostSecret.slice('/tmp/'.length)), 'utf8')).toBe('pwned');
    expect(await fsErrno(a.channel.fs.write('/workspace/to-b', 'pwned'))).toBe('ENOENT');
    // A link to / lands on the sandbox's read-only root, not the host's.
    expect(await fsErrno(a.channel.fs.write('/workspace/to-root/etc/agentd-escape', 'x'))).toBe('EROFS');
    expect(await readFile(hostSecret, 'utf8')).toBe('host original\n');
    expect(await readFile(join(b.spec.dirs.workspace, 'b-only.txt'), 'utf8')).toBe('b data\n');
  });

  test("the spec's extra paths: allowed_paths_rw is writable, a read-only bind mount is EROFS, env and workdir apply", async () => {
    const rw = await mkdtemp(join(tmpdir(), 'agentd-ns-rw-'));
    const src = await mkdtemp(join(tmpdir(), 'agentd-ns-bind-'));
    try {
      // The sandbox's host uid (when root) must be able to write there.
      await chmod(rw, 0o777);
      await chmod(src, 0o755);
      await writeFile(join(src, 'in.txt'), 'bound\n', { mode: 0o644 });
      const c = await h.start({
        allowedPathsRw: [rw],
        bindMounts: [{ source: src, target: '/workspace/data', readonly: true }],
        env: { GREETING: 'hello' },
        workdir: '/home/agent',
      });
      await plantAttack(c);
      expect((await sh(c, `echo out > ${rw}/made && cat /workspace/data/in.txt`)).out).toBe('bound');
      expect(await readFile(join(rw, 'made'), 'utf8')).toBe('out\n');
      expect(await attempt(c, 'write', '/workspace/data/in.txt')).toBe('EROFS');
      // The init is not dumpable (its /proc/1/environ is refused inside): read it from the host.
      expect((await initEnviron(c)).filter((l) => /^(GREETING|HOME|USER)=/.test(l)).sort()).toEqual(['GREETING=hello', 'HOME=/home/agent', 'USER=agent']);
      // A command without a cwd starts in the init's working directory.
      expect((await sh(c, 'pwd')).out).toBe('/home/agent');
    } finally {
      await rm(rw, { recursive: true, force: true });
      await rm(src, { recursive: true, force: true });
    }
  });

  test('the daemon environment is invisible: a secret in the daemon env is in no process of the sandbox', async () => {
    const key = 'AGENTD_TEST_SECRET';
    const secret = `s3cr3t-${process.pid}-${Date.now()}`;
    process.env[key] = secret;
    try {
      const c = await h.start();
      const r = await sh(c, `env; cat /proc/1/environ | tr "\\0" "\\n"; cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"`);
      expect(r.out).not.toContain(secret);
      expect(r.out).not.toContain(key);
      // And the init's own environment is the sandbox's, not the daemon's.
      expect(await initEnviron(c)).toContain('HOME=/home/agent');
      expect((await initEnviron(c)).join('\n')).not.toContain(secret);
    } finally {
      delete process.env[key];
    }
  });
});

/** The environment of a sandbox's agentd-init, read from the host (the init is not dumpable). */
async function initEnviron(sbx: SandboxHandle): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8');
      if ((!cmd.startsWith('bwrap\0') && !cmd.includes('/bwrap\0')) || !cmd.includes(sbx.spec.dirs.workspace)) continue;
      const init = await findInit(Number(name));
      if (init !== Number(name)) return (await readFile(`/proc/${init}/environ`, 'utf8')).split('\0').filter((l) => l !== '');
    } catch {
      // gone
    }
  }
  throw new Error(`no init found for sandbox ${sbx.id}`);
}
