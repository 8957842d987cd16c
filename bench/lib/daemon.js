/** Starts `agentd serve` as a child process (its own temp AGENTD_HOME, port 0) and stops it. */
import { spawn } from 'node:child_process';
import { chmodSync, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PATHS } from './paths.js';

/**
 * @param {object} o
 * @param {string} o.name label for the temp folder and errors
 * @param {string} o.config the TOML config file's text (`home` is added here)
 * @param {Record<string,string>} [o.env] extra environment
 * @param {string[]} [o.nodeArgs] extra node flags (e.g. --cpu-prof)
 */
export async function startDaemon({ name, config, env = {}, nodeArgs = [] }) {
  const home = mkdtempSync(join(tmpdir(), `agentd-bench-${name}-`));
  chmodSync(home, 0o711);
  const logPath = join(home, 'daemon.log');
  const configPath = join(home, 'agentd.toml');
  writeFileSync(configPath, `home = ${JSON.stringify(home)}\n${config}`);
  const child = spawn(process.execPath, [...nodeArgs, PATHS.cli, 'serve'], {
    cwd: home,
    env: {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      AGENTD_CONFIG: configPath,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logPath);
  child.stderr.pipe(log);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench: daemon '${name}' did not print its ready line within 30 s (log: ${logPath})`)), 30_000);
    lines.on('line', (line) => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.event === 'ready') {
        clearTimeout(timer);
        resolve(msg);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`bench: daemon '${name}' exited (${code ?? signal}) before it was ready; log: ${logPath}`));
    });
  });
  if (typeof ready.address !== 'string') throw new Error(`bench: daemon '${name}' has no HTTP address: ${JSON.stringify(ready)}`);
  return {
    name,
    home,
    logPath,
    pid: child.pid,
    url: ready.address,
    backend: ready.backend,
    /** The daemon's local token file: TCP callers need its token (the SDK reads it when given this path). */
    tokenFile: join(home, 'agentd.token'),
    /** `{authorization}` with the local token, for requests made with plain fetch. */
    authHeaders() {
      return { authorization: `Bearer ${readFileSync(join(home, 'agentd.token'), 'utf8').trim()}` };
    },
    /** SIGTERM, wait (SIGKILL after `graceMs`), remove the home. */
    async stop({ graceMs = 10_000, keepHome = process.env.BENCH_KEEP_HOMES === '1' } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      log.end();
      if (!keepHome) rmSync(home, { recursive: true, force: true, maxRetries: 3 });
      return exited;
    },
  };
}
