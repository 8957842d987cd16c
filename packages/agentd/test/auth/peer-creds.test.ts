import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuthChain, loadPeerCredReader, peerCredsProvider, type PeerCredentials } from '../../src/auth/index.js';
import { nativePaths } from '../../src/native-paths.js';
import { httpRequest, rejection } from './helpers.js';

const NATIVE_DIR = fileURLToPath(new URL('../../native/', import.meta.url));
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('peer-creds: skipping the other-uid test: switching a client to uid 65534 needs root');

interface Accepted {
  creds: PeerCredentials;
  socket: Socket;
}

/** A real Unix socket server that records the peer credentials of each connection. */
class PeerServer {
  readonly path: string;
  readonly server: Server;
  readonly #waiters: Array<(a: Accepted) => void> = [];

  constructor(dir: string, read: (s: Socket) => PeerCredentials) {
    this.path = join(dir, 'agentd.sock');
    this.server = createServer((socket) => {
      const creds = read(socket);
      socket.end('ok\n');
      this.#waiters.shift()?.({ creds, socket });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.path, resolve));
    chmodSync(this.path, 0o777);
  }

  next(): Promise<Accepted> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Runs a node client that connects to `path` and waits for the server's line; resolves with its pid. */
function clientProcess(path: string, uid?: number): Promise<{ pid: number; code: number | null }> {
  const code = `const c = require('node:net').connect(${JSON.stringify(path)}); c.on('data', () => c.end()); c.on('error', (e) => { console.error(e.message); process.exit(3); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'inherit', ...(uid === undefined ? {} : { uid, gid: uid }) });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve({ pid: child.pid ?? -1, code: exitCode }));
  });
}

describe('peer credentials over a real Unix socket', () => {
  let dir: string;
  let server: PeerServer;

  beforeAll(async () => {
    // The addon is a build output: build it if this checkout has not yet.
    if (!existsSync(nativePaths().peercredAddon)) execFileSync('make', ['-C', NATIVE_DIR, 'build/peercred.node'], { stdio: 'inherit' });
    dir = mkdtempSync(join(tmpdir(), 'agentd-peer-'));
    chmodSync(dir, 0o755);
    server = new PeerServer(dir, loadPeerCredReader());
    await server.listen();
  });

  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the addon reports this process\'s uid, gid and pid for an in-process client', async () => {
    const accepted = server.next();
    const client = createConnection(server.path);
    const answered = new Promise<string>((resolve, reject) => {
      client.once('data', (d: Buffer) => resolve(d.toString()));
      client.once('error', reject);
    });
    try {
      const { creds } = await accepted;
      expect(creds).toEqual({ uid: process.getuid?.(), gid: process.getgid?.(), pid: process.pid });
      expect(await answered).toBe('ok\n');
    } finally {
      client.end();
    }
  });

  test('the addon reports another process\'s pid', async () => {
    const accepted = server.next();
    const [{ creds }, child] = await Promise.all([accepted, clientProcess(server.path)]);
    expect(child.code).toBe(0);
    expect(creds.pid).toBe(child.pid);
    expect(creds.pid).not.toBe(process.pid);
  });

  test('the addon rejects a descriptor that is not a socket with ENOTSOCK', async () => {
    const { createRequire } = await import('node:module');
    const addon = createRequire(import.meta.url)(nativePaths().peercredAddon) as { getPeerCred(fd: number): unknown };
    const fd = openSync(fileURLToPath(import.meta.url), 'r');
    try {
      expect(() => addon.getPeerCred(fd)).toThrow(expect.objectContaining({ code: 'ENOTSOCK' }) as Error);
    } finally {
      closeSync(fd);
    }
    expect(() => addon.getPeerCred(-1)).toThrow(TypeError);
  });

  describe.skipIf(!isRoot)('as another user (needs root to switch uid; skipped when not root)', () => {
    test('a caller running as nobody gets its own uid, which the default map does not accept', async () => {
      const accepted = server.next();
      const [{ creds }, child] = await Promise.all([accepted, clientProcess(server.path, NOBODY)]);
      expect(child.code).toBe(0);
      expect(creds.uid).toBe(NOBODY);
      const chain = new AuthChain([peerCredsProvider({ uidMap: {}, trustRootAndSelf: true })]);
      const err = await rejection(chain.authenticate({ ...httpRequest(), transport: 'unix', peer: creds }));
      expect(err.code).toBe('UNAUTHENTICATED');
      const mapped = new AuthChain([peerCredsProvider({ uidMap: { [NOBODY]: { subject: 'svc', tenant: 'acme', roles: ['user'] } } })]);
      expect(await mapped.authenticate({ ...httpRequest(), transport: 'unix', peer: creds })).toMatchObject({ subject: 'svc', tenant: 'acme', provider: 'peer-creds' });
    });
  });
});

describe('peer-creds provider mapping', () => {
  const unix = (uid: number) => ({ ...httpRequest(), transport: 'unix' as const, peer: { uid, gid: uid, pid: 1 } });

  test('by default root and the daemon\'s own uid are admins of the default tenant', async () => {
    const p = peerCredsProvider({ uidMap: {}, trustRootAndSelf: true, selfUid: 1234 });
    expect(await p.authenticate(unix(0))).toEqual({ subject: 'uid:0', tenant: 'default', roles: ['admin'], provider: 'peer-creds' });
    expect(await p.authenticate(unix(1234))).toEqual({ subject: 'uid:1234', tenant: 'default', roles: ['admin'], provider: 'peer-creds' });
    expect(await p.authenticate(unix(1000))).toBeNull();
  });

  test('with an explicit uid_map exactly the listed uids are accepted', async () => {
    const p = peerCredsProvider({ uidMap: { '1000': { subject: 'dev', tenant: 'acme', roles: [] } }, trustRootAndSelf: false, selfUid: 1234 });
    expect(await p.authenticate(unix(1000))).toMatchObject({ subject: 'dev', tenant: 'acme', roles: [] });
    expect(await p.authenticate(unix(0))).toBeNull();
    expect(await p.authenticate(unix(1234))).toBeNull();
  });

  test('TCP requests and requests without peer credentials are not this provider\'s', async () => {
    const p = peerCredsProvider({ uidMap: {}, trustRootAndSelf: true });
    expect(await p.authenticate({ ...httpRequest(), peer: { uid: 0, gid: 0, pid: 1 } })).toBeNull();
    expect(await p.authenticate({ ...httpRequest(), transport: 'unix' })).toBeNull();
  });

  test('a non-numeric uid_map key is a config error', () => {
    expect(() => peerCredsProvider({ uidMap: { alice: { subject: 'a', tenant: 't', roles: [] } } })).toThrow(/not a numeric uid/);
  });
});
