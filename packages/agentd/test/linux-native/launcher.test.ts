/**
 * agentd-init's launcher with Landlock rules (native/init/landlock.c), run directly: each
 * layer on its own (Landlock's TCP rule without the socket-refusing seccomp filter), and the
 * launcher failing closed on rules it cannot apply as written.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, symlinkSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { seccompFilters } from '../../src/isolation/linux-native/backend.js';
import { native, noteSkip, skipReason } from './fixture.js';

const PROBE_UID = '1065535';

function launch(args: string[], program: string[], fd3?: string): Promise<{ code: number | null; out: string; err: string }> {
  const fd = fd3 === undefined ? undefined : openSync(fd3, 'r');
  return new Promise((resolve) => {
    const child = spawn(native.init, ['--launch', '--uid', PROBE_UID, '--gid', PROBE_UID, ...args, '--', ...program], {
      cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe', ...(fd === undefined ? [] : [fd])],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('close', (code) => {
      if (fd !== undefined) closeSync(fd);
      resolve({ code, out: out.trim(), err: err.trim() });
    });
  });
}

const SYSTEM = ['--landlock', '/usr=rx', '--landlock', '/etc/ld.so.cache=ro'];
const py = (code: string): string[] => ['/usr/bin/python3', '-c', `import errno, socket\ntry:\n${code.split('\n').map((l) => `    ${l}`).join('\n')}\n    print("ok")\nexcept OSError as e:\n    print(errno.errorcode.get(e.errno, str(e.errno)))`];

describe.skipIf(noteSkip('launcher', skipReason))('agentd-init --launch with Landlock', () => {
  let server: Server;
  let port: number;
  let dir: string;

  beforeAll(async () => {
    server = createServer((s) => s.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
    dir = mkdtempSync(join(tmpdir(), 'agentd-ll-launch-'));
  });

  afterAll(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("Landlock's TCP rule alone (network none, base seccomp): connect and bind to loopback are EACCES", async () => {
    const connect = await launch([...SYSTEM, '--landlock-net', 'none', '--seccomp-fd', '3'], py(`socket.create_connection(("127.0.0.1", ${port}), timeout=5)`), seccompFilters().base);
    expect(connect).toMatchObject({ code: 0, out: 'EACCES' });
    const bind = await launch([...SYSTEM, '--landlock-net', 'none', '--seccomp-fd', '3'], py('socket.socket().bind(("127.0.0.1", 0))'), seccompFilters().base);
    expect(bind).toMatchObject({ code: 0, out: 'EACCES' });
    // What Landlock's network rules do not cover (hence the no-sockets seccomp filter under network none): UDP.
    const udp = await launch([...SYSTEM, '--landlock-net', 'none', '--seccomp-fd', '3'], py(`socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", ${port}))`), seccompFilters().base);
    expect(udp).toMatchObject({ code: 0, out: 'ok' });
  });

  test('network host leaves TCP alone (the control for the test above)', async () => {
    const r = await launch([...SYSTEM, '--landlock-net', 'host'], py(`s = socket.create_connection(("127.0.0.1", ${port}), timeout=5)\nassert s.recv(5) == b"hello"`));
    expect(r).toMatchObject({ code: 0, out: 'ok' });
  });

  test('the rules hold for everything exec\'d: no_new_privs is set', async () => {
    const r = await launch([...SYSTEM, '--landlock', '/proc=proc', '--landlock-net', 'none'], ['/bin/sh', '-c', 'grep NoNewPrivs /proc/self/status']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/NoNewPrivs:\s+1/);
  });

  test('fails closed: a rule path that is a symlink, a missing path, an unknown class, no --landlock-net', async () => {
    const link = join(dir, 'link');
    symlinkSync('/usr', link);
    const cases: Array<[string[], RegExp]> = [
      [[...SYSTEM, '--landlock', `${link}=rx`, '--landlock-net', 'none'], /symbolic link/],
      [[...SYSTEM, '--landlock', '/nonexistent-agentd=rx', '--landlock-net', 'none'], /No such file/],
      [[...SYSTEM, '--landlock', '/tmp=everything', '--landlock-net', 'none'], /unknown access class/],
      [[...SYSTEM], /--landlock-net is required/],
      [['--seccomp-fd', '3'], /--landlock-net is required/],
    ];
    for (const [args, message] of cases) {
      const r = await launch(args, ['/bin/true'], seccompFilters().base);
      expect(r.code).toBe(127);
      expect(r.err).toMatch(message);
    }
  });
});
