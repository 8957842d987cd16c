/** Everything the bench needs; a missing piece fails the run with a message (no case is skipped). */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PATHS } from './paths.js';

function onPath(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function checkDeps() {
  const problems = [];
  for (const [what, path] of [
    ['the daemon CLI (npm run build)', PATHS.cli],
    ['the SDK (npm run build)', PATHS.sdk],
    ['the bundled CLI (npm run build)', PATHS.cliBundle],
    ['agentd-init (npm run build:native)', PATHS.init],
    ['the seccomp filter (npm run build:native)', PATHS.seccomp],
    ['@anthropic-ai/sandbox-runtime (npm install: a root devDependency)', PATHS.srt],
  ]) {
    if (!existsSync(path)) problems.push(`${what}: ${path} is missing`);
  }
  for (const [cmd, pkg] of [['bwrap', 'bubblewrap'], ['socat', 'socat'], ['rg', 'ripgrep'], ['head', 'coreutils'], ['cat', 'coreutils']]) {
    if (!onPath(cmd)) problems.push(`${cmd} is not in PATH (Debian package '${pkg}')`);
  }
  if (process.getuid?.() === 0 && !onPath('setpriv')) problems.push("setpriv is not in PATH (Debian package 'util-linux'): a root daemon needs it for namespace sandboxes");
  if (process.platform !== 'linux') problems.push('the bench runs on Linux only');
  return problems;
}
