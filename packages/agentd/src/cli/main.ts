#!/usr/bin/env node
import { CommanderError } from 'commander';
import { AgentdError } from '../core/errors.js';
import { EXIT_AGENTD_FAILED, exitStatusOfError } from './exit-codes.js';
import { buildProgram } from './main-program.js';

/** The commands whose own exit status is the command's: agentd's failures there are 125/126/127 (exit-codes.ts). */
const COMMAND_RUNNERS = new Set(['run', 'exec', 'shell', 'attach']);

function report(err: unknown, argv: readonly string[]): number {
  const runner = argv[2] !== undefined && COMMAND_RUNNERS.has(argv[2]);
  const failed = runner ? EXIT_AGENTD_FAILED : 1;
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : runner ? EXIT_AGENTD_FAILED : 2;
  if (err instanceof AgentdError && err.code === 'INVALID_CONFIG' && 'issues' in err && Array.isArray(err.issues)) {
    // The message repeats the issues after its first line: print the heading once, then each issue once.
    const issues = err.issues as Array<{ path: string; message: string }>;
    const heading = err.message.split('\n')[0] ?? err.message;
    process.stderr.write(`agentd: ${heading}\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}\n`);
    return failed;
  }
  if (err instanceof AgentdError) {
    process.stderr.write(`agentd: error: ${err.code}: ${err.message}\n`);
    return runner ? exitStatusOfError(err) : failed;
  }
  const text = err instanceof Error ? err.message : String(err);
  process.stderr.write(`agentd: internal error: ${text}\n`);
  if (process.env.AGENTD_DEBUG) process.stderr.write(`${err instanceof Error ? err.stack : ''}\n`);
  return failed;
}

/**
 * Ends the process once a command is done and its output written, instead of waiting for the
 * HTTP client's idle keep-alive connection to the daemon to close (tens of ms for every
 * `agentd exec`). Not for `serve`, whose action returns only when the daemon has stopped.
 */
async function finish(commandName: string | undefined): Promise<void> {
  if (commandName === 'serve') return;
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
  process.exit();
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  try {
    const program = await buildProgram(argv[2]);
    await program.parseAsync([...argv]);
  } catch (err) {
    process.exitCode = report(err, argv);
  }
  await finish(argv[2]);
}

// No top-level await: the bundle (scripts/bundle-cli.mjs) is CommonJS, which has none.
void main();
