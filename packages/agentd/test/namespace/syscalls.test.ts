/**
 * Attacks on the kernel from inside a namespace sandbox: each denied call must fail with
 * the errno the seccomp filter (or the namespaces) give it, proving it failed for the
 * reason we designed, not by accident.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, chown, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { attackBinary, attempt, harness, noteSkip, plantAttack, run, sh, skipReason, type Harness } from './fixture.js';

describe.skipIf(noteSkip('syscall attacks', skipReason))('namespace sandbox: kernel attack surface', () => {
  let h: Harness;
  let sbx: SandboxHandle;
  let hostSleeper: ChildProcess;

  beforeAll(async () => {
    h = await harness();
    sbx = await h.start();
    await plantAttack(sbx);
    hostSleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  });

  afterAll(async () => {
    hostSleeper?.kill('SIGKILL');
    await h?.close();
  });

  // Denied by the seccomp filter with EPERM (see docs/security.md for each reason).
  test.each([
    ['ptrace-traceme'],
    ['mount-tmpfs', '/tmp'],
    ['umount', '/workspace'],
    ['unshare-user'],
    ['clone-newuser'],
    ['setns'],
    ['init-module'],
    ['finit-module'],
    ['delete-module'],
    ['kexec-load'],
    ['bpf'],
    ['perf-event-open'],
    ['keyctl'],
    ['add-key'],
    ['userfaultfd'],
    ['io-uring-setup'],
    ['open-by-handle-at'],
    ['personality-no-aslr'],
    ['reboot'],
    ['chroot'],
    ['acct'],
    ['swapon'],
    ['syslog'],
    ['clock-settime'],
    ['pidfd-getfd'],
    ['tiocsti'],
    ['fsopen'],
  ])('%s is refused with EPERM', async (...args) => {
    expect(await attempt(sbx, ...args)).toBe('EPERM');
  });

  test('ptrace of another process in the sandbox is refused with EPERM', async () => {
    const r = await sh(sbx, 'sleep 30 & pid=$!; /workspace/attack ptrace-attach $pid; /workspace/attack process-vm-readv $pid; kill $pid');
    expect(r.out.split('\n')).toEqual(['EPERM', 'EPERM']);
  });

  test('unshare of a network namespace is refused (EPERM: no capability, and the filter)', async () => {
    expect(await attempt(sbx, 'unshare-net')).toBe('EPERM');
  });

  test('clone3 answers ENOSYS so libc falls back to the clone(2) the filter can inspect', async () => {
    expect(await attempt(sbx, 'clone3')).toBe('ENOSYS');
    // ...and ordinary process creation still works through that fallback.
    expect((await sh(sbx, 'echo $(echo nested)')).out).toBe('nested');
  });

  const nodeInside = process.execPath.startsWith('/usr/') ? process.execPath : undefined;
  test.skipIf(noteSkip('threads test', nodeInside === undefined ? `node (${process.execPath}) is not under /usr, so not visible in the sandbox` : undefined))(
    'threads still start under the filter (libc and Node fall back from clone3 to clone)',
    async () => {
      const r = await run(sbx, [nodeInside as string, '-e', "const {Worker}=require('worker_threads'); new Worker('console.log(6*7)', {eval: true})"]);
      expect(r.stdout.toString().trim()).toBe('42');
    },
  );

  test('netlink, packet and vsock sockets are refused with EAFNOSUPPORT; inet sockets work', async () => {
    expect(await attempt(sbx, 'socket-netlink')).toBe('EAFNOSUPPORT');
    expect(await attempt(sbx, 'socket-packet')).toBe('EAFNOSUPPORT');
    expect(await attempt(sbx, 'socket-vsock')).toBe('EAFNOSUPPORT');
    expect(await attempt(sbx, 'socket-inet')).toBe('ok');
  });

  test('personality query still works (only weakening flags are refused)', async () => {
    expect(await attempt(sbx, 'personality-query')).toBe('ok');
  });

  const int80Works = spawnSync(attackBinary(), ['int80-getpid']).status === 0;
  test.skipIf(noteSkip('32-bit syscall test', int80Works ? undefined : 'this kernel has no working 32-bit x86 syscall entry (int 0x80 segfaults on the host itself)'))(
    'a 32-bit x86 system call kills the process with SIGSYS',
    async () => {
      const r = await run(sbx, ['/workspace/attack', 'int80-getpid']);
      expect(r.signal).toBe('SIGSYS');
    },
  );

  test('the init runs as uid 1000 "agent" with no capabilities and no_new_privs', async () => {
    const r = await sh(sbx, 'id -un; id -u; id -g; grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status');
    expect(r.out.split('\n')).toEqual([
      'agent', '1000', '1000',
      'CapPrm:\t0000000000000000',
      'CapEff:\t0000000000000000',
      'CapBnd:\t0000000000000000',
      'NoNewPrivs:\t1',
      'Seccomp:\t2',
    ]);
  });

  test('host processes are invisible in /proc: only the sandbox\'s own, with agentd-init as PID 1', async () => {
    const r = await sh(sbx, 'cat /proc/1/cmdline | tr "\\0" " "; echo; ls /proc | grep -E "^[0-9]+$" | wc -l');
    const [cmdline, count] = r.out.split('\n');
    expect(cmdline?.trim()).toBe('/.agentd/init --fs-root /');
    // PID 1 (init), the shell, cat/ls/grep/wc: a handful, never the host's hundreds.
    expect(Number(count)).toBeLessThan(10);
    expect(await attempt(sbx, 'read', `/proc/${process.pid}/environ`)).toBe('ENOENT');
  });

  test('signalling a host process fails with ESRCH and the process lives on', async () => {
    const pid = hostSleeper.pid;
    expect(pid).toBeGreaterThan(0);
    expect(await attempt(sbx, 'kill', String(pid), '9')).toBe('ESRCH');
    expect(hostSleeper.exitCode).toBeNull();
    expect(() => process.kill(pid as number, 0)).not.toThrow();
  });

  test('setuid escalation: a setuid-root copy of a binary keeps euid 1000 (nosuid mount, no_new_privs)', async () => {
    const dest = join(sbx.spec.dirs.workspace, 'suid-attack');
    await copyFile(attackBinary(), dest);
    await chown(dest, 0, 0).catch(() => undefined); // as root: owned by host root
    await chmod(dest, 0o4755);
    expect(await attempt(sbx, 'ids')).toBe('ruid=1000 euid=1000 suid=1000');
    const r = await run(sbx, ['/workspace/suid-attack', 'ids']);
    expect(r.stdout.toString().trim()).toBe('ruid=1000 euid=1000 suid=1000');
    // uid 0 does not even exist in the sandbox's user namespace (only 1000 is mapped): EINVAL.
    expect(await attempt(sbx, 'setuid0')).toBe('EINVAL');
  });
});
