import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../daemon/harness.js';
import { createSandbox, run, startNetDaemon, startUpstreams, type Upstreams } from './fixtures.js';

/** A minimal wheel (a zip with its dist-info), made by the host's python3. */
function makeWheel(dir: string): string {
  const path = join(dir, 'agentdprobe-1.0-py3-none-any.whl');
  execFileSync('/usr/bin/python3', ['-c', `
import zipfile, sys
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('agentdprobe/__init__.py', 'X = 1\\n')
    z.writestr('agentdprobe-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: agentdprobe\\nVersion: 1.0\\n')
    z.writestr('agentdprobe-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
    z.writestr('agentdprobe-1.0.dist-info/RECORD', '')
`, path]);
  return path;
}

/** A bare git repository with one commit, served the "dumb" way (update-server-info). */
function makeRepo(dir: string): string {
  const work = join(dir, 'work');
  const bare = join(dir, 'repo.git');
  const git = (args: string[], cwd?: string): void => void execFileSync('git', args, { cwd, stdio: 'pipe', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  git(['init', '-q', '-b', 'main', work]);
  execFileSync('sh', ['-c', 'echo "cloned through the proxy" > README'], { cwd: work });
  git(['add', 'README'], work);
  git(['commit', '-q', '-m', 'one'], work);
  git(['clone', '-q', '--bare', work, bare]);
  git(['update-server-info'], bare);
  return bare;
}

describe('pip, npm and git reach an allowed upstream through the proxy, and fail on a denied one', () => {
  let up: Upstreams;
  let d: TestDaemon;
  let id: string;
  let files: Server;
  let port = 0;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-tools-'));
    const wheel = makeWheel(dir);
    makeRepo(dir);
    // One server: a PEP 503 simple index, an npm registry document, and the repo's files.
    files = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const p = url.pathname;
      if (p === '/simple/agentdprobe/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        return void res.end('<html><body><a href="/files/agentdprobe-1.0-py3-none-any.whl">agentdprobe-1.0-py3-none-any.whl</a></body></html>');
      }
      if (p === '/files/agentdprobe-1.0-py3-none-any.whl') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return void res.end(readFileSync(wheel));
      }
      if (p === '/npm/agentdprobe') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({
          name: 'agentdprobe', 'dist-tags': { latest: '1.2.3' },
          versions: { '1.2.3': { name: 'agentdprobe', version: '1.2.3', dist: { tarball: `http://up.test:${port}/npm/agentdprobe-1.2.3.tgz`, shasum: '0000000000000000000000000000000000000000' } } },
        }));
      }
      if (p.startsWith('/repo.git/')) {
        const f = normalize(join(dir, p));
        if (f.startsWith(join(dir, 'repo.git')) && statSync(f, { throwIfNoEntry: false })?.isFile() === true) {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          return void res.end(readFileSync(f));
        }
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    port = (files.address() as AddressInfo).port;
    up = await startUpstreams();
    d = await startNetDaemon(up, {
      network: { allow: [`up.test:${port}`, `127.0.0.1/32:${port}`], hosts: { 'up.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'] }, dns: 'hosts-only' },
    });
    id = await createSandbox(d, { network: 'allowlist' });
  }, 60_000);
  afterAll(async () => {
    await d?.close();
    await up?.close();
    files?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('pip download from a local simple index', async () => {
    const ok = await run(d, id, ['python3', '-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-d', '/tmp/dl', '--trusted-host', 'up.test', '--index-url', `http://up.test:${port}/simple/`, 'agentdprobe']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain('Saved /tmp/dl/agentdprobe-1.0-py3-none-any.whl');
    const denied = await run(d, id, ['python3', '-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '--retries', '0', '-vv', '-d', '/tmp/dl2', '--trusted-host', 'other.test', '--index-url', `http://other.test:${port}/simple/`, 'agentdprobe']);
    expect(denied.code).not.toBe(0);
    expect(`${denied.stdout}${denied.stderr}`).toMatch(/\b403\b/);
  }, 60_000);

  it('npm view against a local registry', async () => {
    const ok = await run(d, id, ['npm', 'view', 'agentdprobe', 'version', '--registry', `http://up.test:${port}/npm/`]);
    expect(ok.stdout.trim()).toBe('1.2.3');
    const denied = await run(d, id, ['npm', 'view', 'agentdprobe', 'version', '--fetch-retries', '0', '--registry', `http://other.test:${port}/npm/`]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/\b403\b/);
  }, 60_000);

  it('git clone over dumb http', async () => {
    const ok = await run(d, id, ['sh', '-c', `git clone -q http://up.test:${port}/repo.git /tmp/repo && cat /tmp/repo/README`]);
    expect(ok.stdout).toBe('cloned through the proxy\n');
    const denied = await run(d, id, ['git', 'clone', '-q', `http://other.test:${port}/repo.git`, '/tmp/repo2']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/\b403\b/);
  }, 60_000);
});
