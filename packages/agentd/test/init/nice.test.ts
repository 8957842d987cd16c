/**
 * EXEC `nice`: the process runs with its nice value raised by that much over the init's own
 * (capped at 19), set before execve, so the program sees it from its first instruction;
 * everything else about the process (session, fds, stdin, cwd, errors) is as without it.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { constants, getPriority } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { EXEC_FLAGS, MAX_NICE } from '../../src/channel/frames.js';
import { exec, HAVE_INIT, rawTest as test, type RawInit } from './raw-init.js';

const E = constants.errno;

/** Field 19 of /proc/self/stat is the nice value (the command name in field 2 may hold spaces: count after its ')'). */
const NICE_OF_SELF = 'stat=$(cat /proc/self/stat); rest=${stat##*) }; set -- $rest; shift 16; echo "$1"';

async function niceSeen(init: RawInit, id: number, nice: number): Promise<number> {
  init.send(exec(id, ['sh', '-c', NICE_OF_SELF], { nice }));
  const { stdout, stderr, exit } = await init.collect(id);
  expect(stderr.toString()).toBe('');
  expect(exit.exitCode).toBe(0);
  return Number(stdout.toString().trim());
}

describe.skipIf(!HAVE_INIT)('agentd-init EXEC nice', () => {
  test('raises the nice value of the process by `nice` over the init, capped at 19; 0 leaves it as the init', async ({ init }) => {
    const base = getPriority(init.pid);
    expect(await niceSeen(init, 1, 0)).toBe(base);
    expect(await niceSeen(init, 2, 4)).toBe(Math.min(MAX_NICE, base + 4));
    expect(await niceSeen(init, 3, MAX_NICE)).toBe(MAX_NICE);
    // The init itself keeps its own priority for the next command.
    expect(getPriority(init.pid)).toBe(base);
    expect(await niceSeen(init, 4, 0)).toBe(base);
  });

  test('`nice` reports the same value as /proc (the value holds for the whole process, not a thread)', async ({ init }) => {
    init.send(exec(5, ['nice'], { nice: 7 }));
    const { stdout } = await init.collect(5);
    expect(Number(stdout.toString().trim())).toBe(Math.min(MAX_NICE, getPriority(init.pid) + 7));
  });

  test('a niced process still gets its own session, its stdin pipe, merged stderr and its cwd', async ({ init }) => {
    init.send(exec(6, ['sh', '-c', 'cat; echo "pgid=$(ps -o pgid= -p $$ | tr -d " ") pid=$$ cwd=$(pwd)" >&2'], {
      nice: 10, flags: EXEC_FLAGS.STDIN_PIPE | EXEC_FLAGS.MERGE_STDERR, cwd: '/tmp',
    }));
    const started = await init.answer('STARTED', 6);
    init.send({ type: 'STDIN', id: 100, execId: 6, data: Buffer.from('in:') });
    await init.answer('OK', 100);
    init.send({ type: 'STDIN', id: 101, execId: 6, data: Buffer.alloc(0) });
    await init.answer('OK', 101);
    const { stdout, exit } = await init.collect(6);
    expect(stdout.toString()).toBe(`in:pgid=${started.pid} pid=${started.pid} cwd=/tmp\n`);
    expect(exit.exitCode).toBe(0);
  });

  test('a niced program that cannot be executed is an ERROR with the real errno, and no process is left', async ({ init }) => {
    const script = join(init.root, 'not-a-program');
    await writeFile(script, 'garbage without a shebang\0\x7f');
    await chmod(script, 0o755);
    init.send(exec(7, [script], { nice: 5 }));
    const err = await init.answer('ERROR', 7);
    expect(err.errno).toBe(E.ENOEXEC);
    expect(err.message).toContain('cannot execute');
    // The init still runs commands afterwards.
    expect(await niceSeen(init, 8, 1)).toBe(Math.min(MAX_NICE, getPriority(init.pid) + 1));
  });

  test('a nice above 19 is refused with EINVAL before anything runs', async ({ init }) => {
    init.send(exec(9, ['true'], { nice: MAX_NICE + 1 }));
    const err = await init.answer('ERROR', 9);
    expect(err.errno).toBe(E.EINVAL);
    expect(err.message).toContain('nice out of range');
  });
});
