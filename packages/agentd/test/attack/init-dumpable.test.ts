/**
 * agentd-init cannot be taken over from inside: it is not dumpable, so a command of the
 * same uid can neither open its memory or environment, nor ptrace it, nor change its OOM
 * score. Tried from inside a real namespace sandbox (user namespace, PID 1) and against an
 * init started like host-direct under an unprivileged uid.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/channel/lifecycle.js';
import { spawnInit } from '../../src/channel/spawn.js';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { attackBinary, harness, isRoot, native, noteSkip, plantAttack, sh, skipReason, type Harness } from '../namespace/fixture.js';

/** What a command tries against process PID; one verdict line per attempt. */
function probes(pid: string): string {
  return [
    `(exec 3<>/proc/${pid}/mem) 2>/dev/null && echo mem:open || echo mem:denied`,
    `(exec 4</proc/${pid}/mem) 2>/dev/null && echo memread:open || echo memread:denied`,
    `cat /proc/${pid}/environ >/dev/null 2>&1 && echo environ:read || echo environ:denied`,
    `ls /proc/${pid}/fd >/dev/null 2>&1 && echo fd:listed || echo fd:denied`,
    `before=$(cat /proc/${pid}/oom_score_adj)`,
    `(echo 1000 > /proc/${pid}/oom_score_adj) 2>/dev/null && echo oom:written || echo oom:denied`,
    `echo oom-before:$before oom-after:$(cat /proc/${pid}/oom_score_adj)`,
  ].join('\n');
}

const DENIED = ['mem:denied', 'memread:denied', 'environ:denied', 'fd:denied', 'oom:denied'];

describe.skipIf(noteSkip('init takeover', skipReason))('agentd-init cannot be taken over from inside a namespace sandbox', () => {
  let h: Harness;
  let sbx: SandboxHandle;

  beforeAll(async () => {
    h = await harness();
    sbx = await h.start();
    await plantAttack(sbx);
  });

  afterAll(async () => {
    await h?.close();
  });

  test('open /proc/1/mem, read /proc/1/environ, list /proc/1/fd, write /proc/1/oom_score_adj: all refused, the score unchanged', async () => {
    const r = await sh(sbx, probes('1'));
    const lines = r.out.split('\n');
    for (const d of DENIED) expect(lines).toContain(d);
    const [before, after] = /oom-before:(-?\d+) oom-after:(-?\d+)/.exec(r.out)?.slice(1) ?? [];
    expect(before).toBeDefined();
    expect(after).toBe(before);
    // The reason: the files belong to root (unmapped here: nobody), not to the sandbox's uid.
    const owner = await sh(sbx, 'stat -c %u /proc/1/mem; id -u');
    const [fileUid, myUid] = owner.out.split('\n');
    expect(fileUid).not.toBe(myUid);
  });

  // Inside the namespace sandbox the seccomp filter refuses ptrace too; the host-direct case below has no filter.
  test('ptrace attach to the init and to the shepherd of the command fails with EPERM', async () => {
    const r = await sh(sbx, '/workspace/attack ptrace-attach 1; /workspace/attack ptrace-attach $PPID');
    expect(r.out.split('\n')).toEqual(['EPERM', 'EPERM']);
  });

  test('the shepherd (the parent of every command) is not dumpable either', async () => {
    const r = await sh(sbx, probes('$PPID'));
    for (const d of DENIED) expect(r.out.split('\n')).toContain(d);
  });
});

describe.skipIf(noteSkip('init takeover (host-direct style)', !isRoot ? 'needs root to start the init under another uid' : skipReason))('agentd-init started like host-direct, under an unprivileged uid', () => {
  test('a command of the same uid cannot open /proc/<init>/mem, ptrace it or change its OOM score', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentd-dumpable-'));
    await chmod(dir, 0o777);
    const s = await spawnInit([native.init, '--launch', '--uid', '65534', '--gid', '65534', '--', native.init, '--fs-root', dir, '--subreaper'], { cwd: dir, env: { PATH: '/usr/bin:/bin' } });
    try {
      const initPid = String(s.child.pid);
      const attack = attackBinary();
      const script = `id -u; ${probes(initPid)}\necho ptrace:$(${attack} ptrace-attach ${initPid})`;
      const r = await runCommand(s.channel, { argv: ['/bin/sh', '-c', script], env: { PATH: '/usr/bin:/bin' } }, { timeoutMs: 20_000 });
      const lines = r.stdout.toString().trim().split('\n');
      expect(lines[0]).toBe('65534');
      for (const d of DENIED) expect(lines).toContain(d);
      // No seccomp filter here: only the init's non-dumpable flag refuses the attach.
      expect(lines).toContain('ptrace:EPERM');
    } finally {
      await s.channel.shutdown().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
