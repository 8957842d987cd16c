import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PKG = fileURLToPath(new URL('../../', import.meta.url));
const REPO = join(PKG, '..', '..');
const BUILT = join(PKG, 'dist', 'runtime', 'serve.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * The daemon child runs the built JS (`node dist/...`), so build when dist is older than src.
 * Uses the repo's own build (`tsc -b packages/sdk packages/agentd`).
 */
export function ensureBuilt(): void {
  if (existsSync(BUILT) && statSync(BUILT).mtimeMs >= newestMtime(join(PKG, 'src'))) return;
  const r = spawnSync('npx', ['tsc', '-b', 'packages/sdk', 'packages/agentd'], { cwd: REPO, encoding: 'utf8' });
  if (!existsSync(BUILT)) throw new Error(`build failed (exit ${r.status}): ${r.stdout}${r.stderr}`);
}

export interface DaemonChild {
  child: ChildProcess;
  address: string;
  /** stdout events after "ready" ({event: "reloaded" | "reload_failed", ...}). */
  nextEvent(): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** A tiny launcher next to the config: runs `agentd serve --config FILE` from the built daemon, as the CLI would. */
function writeLauncher(dir: string): string {
  const path = join(dir, 'serve-launcher.mjs');
  const entry = pathToFileURL(join(PKG, 'dist', 'runtime', 'index.js')).href;
  writeFileSync(path, `import { serveCommand } from ${JSON.stringify(entry)};\nawait serveCommand({ config: process.argv[2], env: {} });\nprocess.exit(0);\n`);
  return path;
}

/** Starts `agentd serve --config FILE` as a child process and waits for its ready line. */
export async function startDaemonChild(configFile: string): Promise<DaemonChild> {
  const child = spawn(process.execPath, [writeLauncher(dirname(configFile)), configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    const w = waiters.shift();
    if (w) w(l);
    else lines.push(l);
  });
  const nextLine = (): Promise<string> => {
    const l = lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      waiters.push(resolve);
      void exited.then((how) => reject(new Error(`daemon exited (code ${String(how.code)}, signal ${String(how.signal)}): ${err.slice(-2000)}`)));
    });
  };
  const ready = JSON.parse(await nextLine()) as { event: string; address: string };
  if (ready.event !== 'ready') throw new Error(`unexpected first line ${JSON.stringify(ready)}`);
  return { child, address: ready.address, nextEvent: async () => JSON.parse(await nextLine()) as Record<string, unknown>, exited, stderr: () => err };
}

/** The config file of a daemon child: workstation, namespace backend, its own cgroup parent, a free port, the socket in `home`; `extra` TOML after. */
export function configToml(home: string, cgroupParent: string, extra = ''): string {
  return `profile = "workstation"
home = "${home}"

[isolation]
backend = "namespace"

[isolation.backends.namespace]
cgroup_parent = "${cgroupParent}"

[adapters.http]
listen = "127.0.0.1:0"

[adapters.unix]
path = "${join(home, 'agentd.sock')}"
${extra}`;
}
