/**
 * The CLI as a whole process, as a user or a coding agent calls it: `./agentd exec ID -- true`
 * against a running daemon, `./agentd run -- true` (a fresh sandbox of its own, no daemon), and
 * Node's own start-up (`node -e 0`) as the floor of any Node CLI on this machine.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PATHS } from '../lib/paths.js';

const PATH = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';

/** Runs argv to its exit with stdout/stderr read (as a caller would); rejects on a non-zero exit, with its stderr. */
function runToExit(argv, env) {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
    const err = [];
    c.stdout.resume();
    c.stderr.on('data', (d) => err.push(d));
    c.once('error', reject);
    c.once('close', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${argv.join(' ')}: exit ${code ?? signal}: ${Buffer.concat(err).toString().trim().slice(0, 500)}`)),
    );
  });
}

/** `node -e 0`, the same Node binary as the CLI. */
export function nodeStartup() {
  return runToExit([process.execPath, '-e', '0'], { PATH });
}

/**
 * The CLI cases. `exec` talks to `daemon` with the daemon's local token, which the CLI reads
 * from AGENTD_HOME (AGENTD_URL names the daemon's loopback port); `run` gets a home and a
 * config of its own (the bench's cgroup parent, network none as the daemons).
 */
export function openCli({ daemon, sandboxId, cgroupParent }) {
  const execEnv = { PATH, HOME: process.env.HOME ?? '/root', AGENTD_HOME: daemon.home, AGENTD_URL: daemon.url };
  const runHome = mkdtempSync(join(tmpdir(), 'agentd-bench-cli-run-'));
  chmodSync(runHome, 0o711);
  const runConfig = join(runHome, 'agentd.toml');
  writeFileSync(
    runConfig,
    [
      `home = ${JSON.stringify(runHome)}`,
      'profile = "workstation"',
      '[isolation]',
      'backend = "namespace"',
      '[isolation.backends.namespace]',
      `cgroup_parent = ${JSON.stringify(cgroupParent)}`,
      '[sandbox]',
      'network = "none"',
      '',
    ].join('\n'),
  );
  const runEnv = { PATH, HOME: process.env.HOME ?? '/root', AGENTD_HOME: runHome, AGENTD_CONFIG: runConfig };
  return {
    cliExecTrue: () => runToExit([PATHS.agentdScript, 'exec', sandboxId, '--', 'true'], execEnv),
    cliRunTrue: () => runToExit([PATHS.agentdScript, 'run', '--', 'true'], runEnv),
    close() {
      rmSync(runHome, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
