import { PassThrough, Readable } from 'node:stream';
import { Command } from 'commander';
import { registerClientCommands, type CliIo } from '../../src/cli/client/index.js';

export interface CliRun {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
}

/** Runs the client commands in-process with captured streams (the child-process runs are in the e2e tests). */
export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: Buffer; stderrTty?: boolean } = {}): Promise<CliRun> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (options.stderrTty === true) stderr.isTTY = true;
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  let exitCode = 0;
  const io: CliIo = {
    stdout,
    stderr,
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    env: options.env ?? {},
    setExitCode: (code) => {
      exitCode = code;
    },
    onInterrupt: () => () => undefined,
  };
  const program = new Command('agentd').exitOverride().configureOutput({
    writeOut: (s) => stdout.write(s),
    writeErr: (s) => stderr.write(s),
  });
  registerClientCommands(program, io);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    exitCode = typeof code === 'number' ? code : 1;
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString(), exitCode };
}
