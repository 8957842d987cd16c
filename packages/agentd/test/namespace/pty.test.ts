/**
 * PTYs in namespace sandboxes: every sandbox has its own devpts instance (bwrap --dev
 * mounts a new one), so a sandbox can neither see nor open another sandbox's terminals or
 * the host's; TIOCSTI / TIOCLINUX on the sandbox's own terminal are refused by seccomp.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ExecHandle } from '../../src/channel/types.js';
import type { SandboxHandle } from '../../src/isolation/types.js';
import { harness, noteSkip, sh, skipReason, type Harness } from './fixture.js';

const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/home/agent' };

async function textUntil(h: ExecHandle, re: RegExp): Promise<string> {
  let text = '';
  for await (const c of h.output()) {
    text += c.data.toString();
    if (re.test(text)) return text;
  }
  throw new Error(`output ended before ${String(re)}: ${JSON.stringify(text)}`);
}

async function ptyRun(sbx: SandboxHandle, script: string): Promise<{ text: string; code: number | null }> {
  const h = sbx.channel.exec({ argv: ['/bin/sh', '-c', script], env: ENV, pty: { rows: 24, cols: 80 } });
  let text = '';
  for await (const c of h.output()) text += c.data.toString();
  return { text, code: (await h.exited).exitCode };
}

describe.skipIf(noteSkip('pty isolation', skipReason))('namespace sandbox: terminals', () => {
  let h: Harness;
  let a: SandboxHandle;
  let b: SandboxHandle;
  let hostPty: ChildProcess;
  let hostPtyPath = '';
  let holder: ExecHandle;

  beforeAll(async () => {
    h = await harness();
    a = await h.start();
    b = await h.start();
    // A terminal on the host, held open for the whole suite.
    hostPty = spawn('python3', ['-c', 'import os, pty, sys, time\nm, s = pty.openpty()\nprint(os.ttyname(s), flush=True)\ntime.sleep(600)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    hostPtyPath = await new Promise<string>((resolve) => hostPty.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim())));
    // A terminal in sandbox A, held open by a running PTY exec.
    holder = a.channel.exec({ argv: ['/bin/sh', '-c', 'tty; exec sleep 600'], env: ENV, pty: { rows: 24, cols: 80 } });
    await textUntil(holder, /\/dev\/pts\/\d+\r\n/);
  }, 60_000);

  afterAll(async () => {
    hostPty?.kill('SIGKILL');
    await holder?.signal('SIGKILL', 'tree').catch(() => undefined);
    await h?.close();
  });

  test('a sandbox\'s /dev/pts is its own devpts instance: another device than the host\'s, numbered from 0, ptmx its own', async () => {
    expect(hostPtyPath).toMatch(/^\/dev\/pts\/\d+$/);
    const hostDev = statSync('/dev/pts').dev;
    const r = await ptyRun(b, 'tty; stat -c %d /dev/pts; readlink /dev/ptmx; ls /dev/pts | tr "\\n" " "');
    const lines = r.text.split('\r\n');
    expect(lines[0]).toBe('/dev/pts/0');
    expect(Number(lines[1])).not.toBe(hostDev);
    expect(lines[2]).toBe('pts/ptmx');
    expect(lines[3]?.trim()).toBe('0 ptmx');
  });

  test('a sandbox cannot see or open the host\'s terminals or another sandbox\'s (ENOENT: they are not in its devpts)', async () => {
    // Sandbox A holds /dev/pts/0 of its own instance; the host holds hostPtyPath.
    const n = hostPtyPath.split('/').pop() as string;
    const paths = ['/dev/pts/0', `/dev/pts/${n}`, `/dev/pts/${Number(n) + 1}`];
    const py = `import errno, os\nfor p in ${JSON.stringify(paths)}:\n    try:\n        os.open(p, os.O_RDWR | os.O_NOCTTY)\n        print(p, "opened")\n    except OSError as e:\n        print(p, errno.errorcode[e.errno])`;
    const listing = await sh(b, 'ls /dev/pts');
    // B has no terminal at all (a plain exec): its devpts holds nothing but ptmx.
    expect(listing.out).toBe('ptmx');
    const r = await sh(b, `exec /usr/bin/python3 -c '${py}'`);
    expect(r.out.split('\n')).toEqual(paths.map((p) => `${p} ENOENT`));
    // And the pty A holds is still only A's.
    const inA = await sh(a, 'ls /dev/pts | tr "\\n" " "');
    expect(inA.out.trim()).toBe('0 ptmx');
  });

  test('TIOCSTI (typing into a terminal) and TIOCLINUX on the sandbox\'s own terminal fail with EPERM from seccomp', async () => {
    const py = [
      'import errno, fcntl, termios',
      'for name, req in (("TIOCSTI", termios.TIOCSTI), ("TIOCLINUX", 0x541C)):',
      '    try:',
      '        fcntl.ioctl(0, req, b"\\x00")',
      '        print(name, "ok")',
      '    except OSError as e:',
      '        print(name, errno.errorcode[e.errno])',
      '# the terminal itself works: a harmless ioctl on it succeeds',
      'import struct',
      'print("winsize", struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\\0" * 8))[:2])',
    ].join('\n');
    const r = await ptyRun(b, `exec /usr/bin/python3 -c '${py}'`);
    expect(r.text).toContain('TIOCSTI EPERM');
    expect(r.text).toContain('TIOCLINUX EPERM');
    expect(r.text).toContain('winsize (24, 80)');
    expect(r.code).toBe(0);
  });
});
