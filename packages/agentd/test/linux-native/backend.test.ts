/**
 * linux-native (Landlock) sandboxes, with real Landlock, seccomp, cgroups and agentd-init:
 * what works (exec, files, limits, suspend) and what every confinement refuses, each attack
 * attempted and asserted to fail with the errno of the layer that stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, readdir, readFile, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgentdError } from '../../src/core/errors.js';
import { CgroupDriver } from '../../src/isolation/cgroup/index.js';
import { LinuxNativeBackend } from '../../src/isolation/linux-native/backend.js';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { silentLogger } from '../../src/util/logger.js';
import { attemptPy, harness, native, noteSkip, py, run, sh, skipReason, type Harness } from './fixture.js';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function refusal(p: Promise<unknown>): Promise<AgentdError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AgentdError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

/** A process of uid `uid` outside any Landlock domain (started by the test through the launcher's plain uid drop). */
function outsider(uid: number): ChildProcess {
  return spawn(native.init, ['--launch', '--uid', String(uid), '--gid', String(uid), '--', '/bin/sleep', '300'], { stdio: 'ignore', env: { SECRET_OF_OUTSIDER: 'x' } });
}

describe.skipIf(noteSkip('backend', skipReason))('linux-native sandbox', () => {
  let h: Harness;
  let sbx: SandboxHandle;
  let scratch: string;

  beforeAll(async () => {
    h = await harness();
    sbx = await h.start({ limits: { pids: 64, openFiles: 512, memoryBytes: 256 * 1024 * 1024 } });
    scratch = await mkdtemp(join(tmpdir(), 'agentd-ll-outside-'));
    await chmod(scratch, 0o777);
  }, 60_000);

  afterAll(async () => {
    await h?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('exec: exit codes, binary output, stdin; runs as its own unprivileged host uid in its workspace', async () => {
    expect((await sh(sbx, 'exit 7')).code).toBe(7);
    const bin = await run(sbx, ['/usr/bin/head', '-c', '256', '/dev/urandom']);
    expect(bin.stdout.length).toBe(256);
    const cat = await run(sbx, ['/bin/cat'], { stdin: 'from stdin' });
    expect(cat.stdout.toString()).toBe('from stdin');
    const who = await sh(sbx, 'id -u; pwd');
    const [uid, cwd] = who.out.split('\n');
    expect(Number(uid)).toBeGreaterThanOrEqual(1_000_000);
    expect(cwd).toBe(sbx.spec.dirs.workspace);
    // A program is looked up in PATH by the init, inside the ruleset.
    expect((await run(sbx, ['python3', '-c', 'print(6*7)'])).stdout.toString().trim()).toBe('42');
  });

  test('files: the API and commands share the workspace; home and tmp are writable', async () => {
    await sbx.channel.fs.write('note.txt', 'written by the API');
    expect((await sh(sbx, 'cat note.txt')).out).toBe('written by the API');
    await sh(sbx, 'echo from-cmd > made.txt; echo h > "$HOME/h"; echo t > "$TMPDIR/t"');
    expect((await sbx.channel.fs.read('made.txt')).data.toString().trim()).toBe('from-cmd');
    // The API's file operations are the init's, inside the ruleset: a host file outside it is refused.
    await expect(sbx.channel.fs.read('/etc/fstab')).rejects.toMatchObject({ code: 'FS_ERROR', syscallCode: 'EACCES' });
    expect(await readFile(join(sbx.spec.dirs.home, 'h'), 'utf8')).toBe('h\n');
    expect(await readFile(join(sbx.spec.dirs.tmp, 't'), 'utf8')).toBe('t\n');
  });

  test('limits: pids (cgroup) and open files (rlimit) hold', async () => {
    expect((await sh(sbx, 'ulimit -n')).out).toBe('512');
    const r = await sh(sbx, 'for i in $(seq 100); do sleep 1 & done 2>&1 | grep -c "Resource temporarily unavailable\\|fork" || true; wait');
    expect(Number(r.out)).toBeGreaterThan(0);
    const usage = await sbx.usage();
    expect(usage.memoryBytes).toBeGreaterThan(0);
  });

  test('reading a host file outside the rules is EACCES, though Unix permissions allow it', async () => {
    const file = join(scratch, 'readable');
    await writeFile(file, 'host data');
    await chmod(file, 0o644);
    expect(await py(sbx, attemptPy(`open(${JSON.stringify(file)}).read()`))).toBe('EACCES');
    // /etc entries not on the list (fstab is world-readable) and the daemon's home neither.
    expect(await py(sbx, attemptPy('open("/etc/fstab").read()'))).toBe('EACCES');
    expect(await py(sbx, attemptPy('os.listdir("/root")'))).toBe('EACCES');
    // Neither a symlink nor a hard link made in the workspace opens it: Landlock checks the file reached, and refuses to reparent it (EXDEV).
    expect(await py(sbx, attemptPy(`os.symlink(${JSON.stringify(file)}, "via-symlink")\nopen("via-symlink").read()`))).toBe('EACCES');
    expect(await py(sbx, attemptPy(`os.link(${JSON.stringify(file)}, "via-hardlink")`))).toBe('EPERM'); // protected_hardlinks: not its file
    // A file outside that even belongs to the sandbox's uid: Unix permissions allow everything, Landlock nothing.
    const uid = Number((await sh(sbx, 'id -u')).out);
    const own = join(scratch, 'owned-by-sandbox-uid');
    await writeFile(own, 'its own, but outside');
    await chown(own, uid, uid);
    expect(await py(sbx, attemptPy(`open(${JSON.stringify(own)}).read()`))).toBe('EACCES');
    expect(await py(sbx, attemptPy(`os.link(${JSON.stringify(own)}, "via-hardlink")`))).toBe('EXDEV');
    expect(await py(sbx, attemptPy(`os.rename(${JSON.stringify(own)}, "moved-in")`))).toBe('EACCES'); // no right to remove it from its folder
    // A listed system file reads fine.
    expect(await py(sbx, attemptPy('open("/etc/passwd").read()'))).toBe('ok');
  });

  test('writing the system folders, the host /tmp and /dev/shm is refused (EACCES)', async () => {
    expect(await py(sbx, attemptPy('open("/usr/local/agentd-ll-probe", "w")'))).toBe('EACCES');
    // World-writable folders: only Landlock stands in the way here.
    expect(await py(sbx, attemptPy(`open(${JSON.stringify(join(scratch, 'dropped'))}, "w")`))).toBe('EACCES');
    expect(await py(sbx, attemptPy('open("/dev/shm/agentd-ll-probe", "w")'))).toBe('EACCES');
    expect(await py(sbx, attemptPy('open("/tmp/agentd-ll-probe", "w")'))).toBe('EACCES');
  });

  test("network none: a TCP connect to a loopback server the test started is refused; UDP and Unix sockets too", async () => {
    const server: Server = createServer((s) => s.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      // seccomp refuses the socket itself (EACCES), before Landlock's TCP rule is reached.
      expect(await py(sbx, attemptPy(`socket.create_connection(("127.0.0.1", ${port}), timeout=5)`))).toBe('EACCES');
      expect(await py(sbx, attemptPy('socket.socket(socket.AF_INET, socket.SOCK_DGRAM)'))).toBe('EACCES');
      expect(await py(sbx, attemptPy('socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)'))).toBe('EACCES');
      // socketpair reaches nobody else and stays allowed.
      expect(await py(sbx, attemptPy('socket.socketpair()'))).toBe('ok');
    } finally {
      server.close();
    }
  });

  test('a signal to a process of the same uid outside the sandbox is refused (EPERM, Landlock scoping)', async () => {
    const uid = Number((await sh(sbx, 'id -u')).out);
    const out = outsider(uid);
    try {
      await sleep(200);
      expect(out.pid).toBeDefined();
      expect(await py(sbx, attemptPy(`os.kill(${String(out.pid)}, 0)`))).toBe('EPERM');
      expect(await py(sbx, attemptPy(`os.kill(${String(out.pid)}, signal.SIGKILL)`))).toBe('EPERM');
      // Its /proc files that need ptrace access stay closed although the uid is the same.
      expect(await py(sbx, attemptPy(`open("/proc/${String(out.pid)}/environ").read()`))).toBe('EACCES');
      expect(out.exitCode).toBeNull();
    } finally {
      out.kill('SIGKILL');
    }
  });

  test('ptrace of the daemon is refused; its /proc environ is closed, its command line visible (no pid namespace)', async () => {
    const daemon = process.pid;
    const r = await py(sbx, `import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nrc = libc.ptrace(16, ${daemon}, 0, 0)\nprint(rc, os.strerror(ctypes.get_errno()))`);
    expect(r).toBe(`-1 ${'Operation not permitted'}`);
    expect(await py(sbx, attemptPy(`open("/proc/${daemon}/environ").read()`))).toBe('EACCES');
    expect(await py(sbx, attemptPy(`open("/proc/${daemon}/mem", "rb").read(1)`))).toBe('EACCES');
    // The documented limit (probe: pidNamespace false): host processes are listed, their command lines readable.
    expect(await py(sbx, `print(${daemon} in [int(p) for p in os.listdir("/proc") if p.isdigit()])`.replace('print(', 'import os\nprint('))).toBe('True');
  });

  test('an abstract Unix socket outside the sandbox cannot be reached (network host: EPERM, Landlock scoping)', async () => {
    const open = await h.start({ network: 'host' });
    const name = `agentd-ll-${process.pid}`;
    // The listener is a plain host process (Python: Node's net module cannot bind an abstract name).
    const server = spawn('/usr/bin/python3', ['-c', `import socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.bind("\\0${name}")\ns.listen(1)\nprint("ready", flush=True)\ntime.sleep(60)`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout?.once('data', () => resolve());
        server.once('exit', () => reject(new Error('the abstract socket listener exited')));
      });
      // Reachable from outside the sandbox (the attempt below is refused for the right reason)...
      const outside = spawn('/usr/bin/python3', ['-c', `import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect("\\0${name}")\nprint("ok")`], { stdio: ['ignore', 'pipe', 'ignore'] });
      const seen = await new Promise<string>((resolve) => { let t = ''; outside.stdout?.on('data', (d: Buffer) => { t += d.toString(); }); outside.on('close', () => resolve(t.trim())); });
      expect(seen).toBe('ok');
      // ...but not from inside: Landlock's abstract-socket scope.
      expect(await py(open, attemptPy(`s = socket.socket(socket.AF_UNIX)\ns.connect("\\0${name}")`))).toBe('EPERM');
    } finally {
      server.kill('SIGKILL');
    }
  });

  test("terminals: an exec gets its own PTY; a host terminal cannot be opened (EACCES)", async () => {
    const host = spawn('/usr/bin/python3', ['-c', 'import os, pty, time\nm, s = pty.openpty()\nprint(os.ttyname(s), flush=True)\ntime.sleep(60)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const hostPath = await new Promise<string>((resolve) => host.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim())));
      const h = sbx.channel.exec({ argv: ['/bin/sh', '-c', 'tty'], env: { ...sbx.baseEnv }, pty: { rows: 24, cols: 80 } });
      let text = '';
      for await (const c of h.output()) text += c.data.toString();
      expect((await h.exited).exitCode).toBe(0);
      expect(text.trim()).toMatch(/^\/dev\/pts\/\d+$/);
      expect(text.trim()).not.toBe(hostPath);
      expect(await py(sbx, attemptPy(`os.open(${JSON.stringify(hostPath)}, os.O_RDWR)`))).toBe('EACCES');
    } finally {
      host.kill('SIGKILL');
    }
  });

  test('suspend and resume through the freezer', async () => {
    const s = await h.start();
    await sh(s, 'sleep 300 >/dev/null 2>&1 & echo started');
    await s.suspend();
    const state = await readFile(`/sys/fs/cgroup/freezer/agentd/${s.id}/freezer.state`, 'utf8').catch(() => 'FROZEN\n');
    expect(state.trim()).toBe('FROZEN');
    await s.resume();
    expect((await sh(s, 'echo back')).out).toBe('back');
  });

  test('allowed host paths: read-only stays read-only, read-write is writable by the sandbox', async () => {
    const ro = join(scratch, 'ro');
    const rw = join(scratch, 'rw');
    await mkdir(ro);
    await mkdir(rw);
    await writeFile(join(ro, 'f'), 'ro data');
    await chmod(ro, 0o777);
    await chmod(rw, 0o777);
    const s = await h.start({ allowedPathsRo: [ro], allowedPathsRw: [rw] });
    expect(await py(s, attemptPy(`open(${JSON.stringify(join(ro, 'f'))}).read()`))).toBe('ok');
    expect(await py(s, attemptPy(`open(${JSON.stringify(join(ro, 'new'))}, "w")`))).toBe('EACCES');
    expect(await py(s, attemptPy(`open(${JSON.stringify(join(rw, 'new'))}, "w").write("x")`))).toBe('ok');
  });
});

describe.skipIf(noteSkip('refusals', skipReason))('linux-native refusals', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await harness();
  });

  afterAll(async () => {
    await h?.close();
  });

  test('an image is refused (ISOLATION_REQUIRED, rule images)', async () => {
    const err = await refusal(h.start({ image: { name: 'python', digest: 'sha256:00', rootfs: '/nonexistent' } }));
    expect(err.code).toBe('ISOLATION_REQUIRED');
    expect(err.details.rule).toBe('images');
  });

  test('network allowlist and ports are refused (no network namespace)', async () => {
    expect((await refusal(h.start({ network: 'allowlist' }))).details.rule).toBe('network');
    expect((await refusal(h.start({ network: 'host', ports: [{ port: 8080 }] }))).details.rule).toBe('ports');
  });

  test('a bind mount to another target and a deny path inside an allowed path are refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentd-ll-bind-'));
    try {
      const bind = await refusal(h.start({ bindMounts: [{ source: dir, target: '/data', readonly: true }] }));
      expect(bind.code).toBe('ISOLATION_REQUIRED');
      expect(bind.details.rule).toBe('bind_target');
      const deny = await refusal(h.start({ denyPaths: ['/usr/share'] }));
      expect(deny.code).toBe('ISOLATION_REQUIRED');
      expect(deny.details.rule).toBe('deny_paths');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a workdir outside the sandbox\'s folders and allowed paths is refused (INVALID_ARGUMENT)', async () => {
    const err = await refusal(h.start({ workdir: '/root' }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.details.field).toBe('workdir');
  });

  test('a deny path no rule covers is accepted, and stays unreadable', async () => {
    const s = await h.start({ denyPaths: ['/var/lib'] });
    expect(await py(s, attemptPy('os.listdir("/var/lib")'))).toBe('EACCES');
  });
});

describe.skipIf(noteSkip('recovery', skipReason))('linux-native recovery after a crash', () => {
  test("recover() kills what a dead init left running in the sandbox's cgroup and removes the group", async () => {
    const parent = `agentd-test-ll-rec-${process.pid}`;
    const h = await harness({ cgroup_parent: parent });
    try {
      const s = await h.start();
      const pid = Number((await sh(s, 'setsid sleep 300 >/dev/null 2>&1 < /dev/null & echo $!')).out);
      expect(pid).toBeGreaterThan(0);
      // The daemon "crashes": its init is SIGKILLed; no pid namespace ends with it, the sleep lives on.
      // The init: the process of the sandbox's cgroup that this process (the "daemon") started.
      let initPid = 0;
      for (const name of await readdir('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
        const cg = await readFile(`/proc/${name}/cgroup`, 'utf8').catch(() => '');
        if (new RegExp(`^PPid:\\s+${process.pid}$`, 'm').test(status) && cg.includes(`/${parent}/${s.id}`)) initPid = Number(name);
      }
      expect(initPid).toBeGreaterThan(1);
      process.kill(initPid, 'SIGKILL');
      await s.exited;
      await sleep(100);
      expect((await readFile(`/proc/${pid}/cgroup`, 'utf8')).includes(`/${parent}/${s.id}`)).toBe(true);
      const warnings: unknown[] = [];
      const fresh = new LinuxNativeBackend(native.init, silentLogger, { cgroup_parent: parent });
      const report = await fresh.recover({ ours: new Set([s.id]), stopped: [{ id: s.id, dirs: s.spec.dirs }], logger: { warn: (o: object) => warnings.push(o) } });
      expect(report.cgroups).toEqual([s.id]);
      expect(warnings).toEqual([]);
      const gone = await readFile(`/proc/${pid}/status`, 'utf8').then((t) => /^State:\s+Z/m.test(t), () => true);
      expect(gone).toBe(true);
      expect(await new CgroupDriver({ parent }).attach(s.id)).toBeUndefined();
    } finally {
      await h.close().catch(() => undefined);
      await new CgroupDriver({ parent }).removeParent().catch(() => undefined);
    }
  }, 60_000);
});
