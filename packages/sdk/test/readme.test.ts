/**
 * The READMEs' SDK examples run as written on this Node (20): each fenced block marked
 * `<!-- readme-test: FILE -->` is saved as FILE in a fresh folder that sees the workspace's
 * node_modules (as a file in the checkout does), then the JavaScript runs with `node` and the
 * TypeScript is compiled with `tsc` (the tsconfig shown) and run with `node`. The daemon uses
 * its profile's auth (the local token on TCP): the snippets find it from AGENTD_HOME alone.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { e2eSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const skipReason = e2eSkipReason() ?? (existsSync(join(root, 'packages/sdk/dist/index.js')) ? undefined : 'the SDK is not built (npm run build)');

/** The marked blocks of a README: file name -> its text. */
function snippets(readme: string): Map<string, string> {
  const text = readFileSync(join(root, readme), 'utf8');
  const out = new Map<string, string>();
  for (const m of text.matchAll(/<!-- readme-test: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)) out.set(m[1] ?? '', `${m[2] ?? ''}\n`);
  return out;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a child without blocking this process (the daemon under test lives in it). */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

describe.skipIf(skipReason !== undefined)('README examples', () => {
  let d: TestDaemon;
  const dirs: string[] = [];

  beforeAll(async () => {
    d = await startTestDaemon({ profileAuth: true });
    expect(existsSync(join(d.home, 'agentd.token'))).toBe(true);
  }, 60_000);

  afterAll(async () => {
    await d?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** A folder holding the README's files, which resolves @agentd/sdk like the checkout does. */
  function project(readme: string): { dir: string; files: Map<string, string> } {
    const files = snippets(readme);
    const dir = mkdtempSync(join(tmpdir(), 'agentd-readme-'));
    dirs.push(dir);
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    for (const [name, text] of files) writeFileSync(join(dir, name), text);
    return { dir, files };
  }

  function env(): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = { ...process.env, AGENTD_URL: d.url, AGENTD_HOME: d.home };
    delete e.AGENTD_API_KEY;
    delete e.NODE_OPTIONS;
    return e;
  }

  async function liveSandboxes(): Promise<number> {
    return (await d.socketClient.listSandboxes()).filter((s) => s.state !== 'destroyed').length;
  }

  for (const [readme, jsOut, tsOut] of [
    ['README.md', /^0 42\n/, /^0 42\n/],
    ['packages/sdk/README.md', /^3 hello\n/, /^3 hello\n/],
  ] as const) {
    test(`${readme}: the JavaScript runs with node, the TypeScript compiles with the tsconfig shown and runs`, async () => {
      const { dir, files } = project(readme);
      expect([...files.keys()].sort()).toEqual(['demo.mjs', 'demo.mts', 'tsconfig.json']);

      const js = await run(process.execPath, ['demo.mjs'], dir, env());
      expect(js).toMatchObject({ code: 0, stderr: '' });
      expect(js.stdout).toMatch(jsOut);
      expect(await liveSandboxes()).toBe(0);

      const tsc = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], dir, env());
      expect(tsc).toMatchObject({ code: 0, stdout: '' });
      const ts = await run(process.execPath, ['demo.mjs'], dir, env());
      expect(ts).toMatchObject({ code: 0, stderr: '' });
      expect(ts.stdout).toMatch(tsOut);
      // `await using` destroyed it at the end of the scope.
      expect(await liveSandboxes()).toBe(0);
    }, 120_000);
  }

  test('the lib matters: without esnext.disposable (and without @types/node, which declares the same types) tsc fails with TS2318', async () => {
    const { dir, files } = project('README.md');
    const tsc = async (lib: string[]): Promise<Run> => {
      const config = JSON.parse(files.get('tsconfig.json') ?? '{}') as { compilerOptions: Record<string, unknown> };
      // `dom` only for `console`, which @types/node would otherwise declare.
      Object.assign(config.compilerOptions, { lib: [...lib, 'dom'], types: [] });
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
      return run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], dir, env());
    };
    const without = await tsc(['es2022']);
    expect(without.code).not.toBe(0);
    expect(without.stdout).toMatch(/TS2318: Cannot find global type 'AsyncDisposable'/);
    expect(await tsc(['es2022', 'esnext.disposable'])).toMatchObject({ code: 0, stdout: '' });
  }, 120_000);
});
