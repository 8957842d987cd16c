/** What the numbers were measured on. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

function versionOf(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

export function loadavg() {
  return os.loadavg().map((x) => Number(x.toFixed(2)));
}

export function machineInfo() {
  const cpuModel = os.cpus()[0]?.model ?? 'unknown';
  let distro;
  try {
    distro = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
  } catch {
    distro = undefined;
  }
  return {
    cores: os.cpus().length,
    cpu_model: cpuModel,
    memory_mib: Math.round(os.totalmem() / 1024 / 1024),
    kernel: `${os.type()} ${os.release()}`,
    distro,
    node: process.version,
    bwrap: versionOf('bwrap', ['--version']),
    uid: process.getuid?.(),
    loadavg_start: loadavg(),
  };
}
