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

/**
 * Adds `sandbox`, `snapshot`, `exec`, `cp`, `audit`, `keys`, `signing-keys` and `mcp` to the program. They take the program's
 * settings (exit override, output, help), and a usage error reads `error: INVALID_ARGUMENT: ...`.
 */
export function registerClientCommands(program: Command, io: CliIo = processIo()): Command {
  // `exec ID CMD -x`: options after the id belong to the command (exec passes them through).
  program.enablePositionalOptions();
  for (const command of [sandboxCommand(io), snapshotCommand(io), execCommand(io), shellCommand(io), psCommand(io), attachCommand(io), killCommand(io), cpCommand(io), auditCommand(io), keysCommand(io), signingKeysCommand(io), watchCommand(io), mcpCommand(io), networkCommand(io), portCommand(io)]) {
    program.addCommand(command);
    eachCommand(command, (c) => {
      c.copyInheritedSettings(program);
      c.configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'error: INVALID_ARGUMENT: ')) });
    });
  }
  return program;
}
