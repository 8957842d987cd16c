/** The floor: Node spawning processes itself, in this process. */
import { spawn } from 'node:child_process';

const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };

/** One `child_process.spawn('/bin/true')` to its exit (stdout/stderr piped, as a daemon would). */
export function spawnTrue() {
  return new Promise((resolve, reject) => {
    const c = spawn('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV });
    c.once('error', reject);
    c.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`/bin/true exited ${code}`))));
  });
}

/** `head -c BYTES /dev/zero | cat` with cat's stdout read by this process; resolves to the bytes read. */
export function pipeBytes(bytes) {
  return new Promise((resolve, reject) => {
    const c = spawn('/bin/sh', ['-c', `head -c ${bytes} /dev/zero | cat`], { stdio: ['ignore', 'pipe', 'inherit'], env: ENV });
    let n = 0;
    c.stdout.on('data', (chunk) => {
      n += chunk.length;
    });
    c.once('error', reject);
    c.once('close', (code) => (code === 0 && n === bytes ? resolve(n) : reject(new Error(`pipe: exit ${code}, ${n} of ${bytes} bytes`))));
  });
}
