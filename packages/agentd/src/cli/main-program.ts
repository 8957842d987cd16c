import { Command } from 'commander';
import { AGENTD_VERSION } from '../runtime/version.js';
import { LOCAL_COMMANDS } from './command-groups.js';
import { configCommand } from './config-check.js';
import { doctorCommand } from './doctor.js';
import { imageCommand } from './image.js';
import { runCommandCli } from './run.js';
import { serveCommandCli } from './serve.js';

/**
 * The CLI. `commandName` (the first argument) lets a local command start without the client
 * commands' modules, and a client command without the other client commands; anything else
 * (another name, help, none) gets every command.
 */
export async function buildProgram(commandName?: string): Promise<Command> {
  const program = new Command('agentd')
    .description('agentd: run the actions of AI agents in isolated sandboxes')
    .version(AGENTD_VERSION)
    .enablePositionalOptions()
    .exitOverride();
  program.addCommand(serveCommandCli());
  program.addCommand(runCommandCli());
  program.addCommand(doctorCommand());
  program.addCommand(configCommand());
  program.addCommand(imageCommand());
  if (commandName === undefined || !LOCAL_COMMANDS.has(commandName)) {
    const { registerClientCommands } = await import('./client/index.js');
    registerClientCommands(program, undefined, commandName);
  }
  withUsageHints(program);
  return program;
}

/** A usage error prints one line and where to read more, never the whole help. */
function withUsageHints(command: Command, path: string[] = []): void {
  const here = path.length === 0 ? ['agentd'] : path;
  command.showHelpAfterError(`(run '${here.join(' ')} --help' for usage)`).exitOverride();
  for (const sub of command.commands) withUsageHints(sub, [...here, sub.name()]);
}
