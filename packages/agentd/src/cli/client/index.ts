/**
 * The CLI as a client of a running daemon (HTTP or Unix socket), built on @agentd/sdk.
 * main.ts calls `registerClientCommands(program)`.
 */
import { networkCommand, portCommand } from './network.js';
import type { Command } from 'commander';
import { auditCommand } from './audit.js';
import { cpCommand } from './cp.js';
import { execCommand } from './exec.js';
import { attachCommand, killCommand, psCommand, shellCommand } from './interactive.js';
import { processIo, type CliIo } from './io.js';
import { keysCommand } from './keys.js';
import { mcpCommand } from './mcp.js';
import { sandboxCommand } from './sandbox.js';
import { signingKeysCommand } from './signing-keys.js';
import { snapshotCommand } from './snapshot.js';
import { watchCommand } from './watch.js';

export type { CliIo } from './io.js';

function eachCommand(command: Command, visit: (c: Command) => void): void {
  visit(command);
  for (const sub of command.commands) eachCommand(sub, visit);
}

/** Every client command by its name, in the order of the help. */
const CLIENT_COMMANDS: Record<string, (io: CliIo) => Command> = {
  sandbox: sandboxCommand,
  snapshot: snapshotCommand,
  exec: execCommand,
  shell: shellCommand,
  ps: psCommand,
  attach: attachCommand,
  kill: killCommand,
  cp: cpCommand,
  audit: auditCommand,
  keys: keysCommand,
  'signing-keys': signingKeysCommand,
  watch: watchCommand,
  mcp: mcpCommand,
  network: networkCommand,
  port: portCommand,
};

/** The names of the client commands. */
export const CLIENT_COMMAND_NAMES: readonly string[] = Object.keys(CLIENT_COMMANDS);

/**
 * Adds `sandbox`, `snapshot`, `exec`, `cp`, `audit`, `keys`, `signing-keys`, `mcp` and the others to the program. They take the program's
 * settings (exit override, output, help), and a usage error reads `error: INVALID_ARGUMENT: ...`.
 * `only` (the command named first on the command line): when it is a client command, only that
 * one is built (a start of `agentd exec` does not build the other fourteen); anything else
 * (help, a mistyped name) gets them all, for the help and the suggestions.
 */
export function registerClientCommands(program: Command, io: CliIo = processIo(), only?: string): Command {
  // `exec ID CMD -x`: options after the id belong to the command (exec passes them through).
  program.enablePositionalOptions();
  const names = only !== undefined && Object.hasOwn(CLIENT_COMMANDS, only) ? [only] : CLIENT_COMMAND_NAMES;
  for (const name of names) {
    const command = (CLIENT_COMMANDS[name] as (io: CliIo) => Command)(io);
    program.addCommand(command);
    eachCommand(command, (c) => {
      c.copyInheritedSettings(program);
      c.configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'error: INVALID_ARGUMENT: ')) });
    });
  }
  return program;
}
