#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { AgentdError } from '../core/errors.js';
import { AGENTD_VERSION } from '../runtime/version.js';
import { configCommand } from './config-check.js';
import { doctorCommand } from './doctor.js';
import { runCommandCli } from './run.js';
import { serveCommandCli } from './serve.js';

/** agentd's own failure under `agentd run` (as `docker run` does), so it never looks like the command's exit code. */
const RUN_FAILED = 125;

/** The commands that work without a daemon. Naming one skips loading the client commands (and the SDK behind them). */
const LOCAL_COMMANDS = new Set(['serve', 'run', 'doctor', 'config']);

/**
 * The CLI. `commandName` (the first argument) lets a local command start without the client
 * commands' modules; anything else (another name, help, none) gets every command.
 */
export async function buildProgram(commandName?: string): Promise<Command> {
  const program = new Command('agentd')
    .description('agentd: run the actions of AI agents in isolated sandboxes')
    .version(AGENTD_VERSION)
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(serveCommandCli());
  program.addCommand(runCommandCli());
  program.addCommand(doctorCommand());
  program.addCommand(configCommand());
  if (commandName === undefined || !LOCAL_COMMANDS.has(commandName)) {
    const { registerClientCommands } = await import('./client/index.js');
    registerClientCommands(program);
  }
  return program;
}

function report(err: unknown, argv: readonly string[]): number {
  const failed = argv[2] === 'run' ? RUN_FAILED : 1;
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof AgentdError && err.code === 'INVALID_CONFIG' && 'issues' in err && Array.isArray(err.issues)) {
    const issues = err.issues as Array<{ path: string; message: string }>;
    process.stderr.write(`agentd: ${err.message}\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}\n`);
    return failed;
  }
  if (err instanceof AgentdError) {
    process.stderr.write(`agentd: error: ${err.code}: ${err.message}\n`);
    return failed;
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

await main();
