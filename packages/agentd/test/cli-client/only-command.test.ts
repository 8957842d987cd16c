/**
 * The CLI builds only the client command named first (a faster start of `agentd exec`): that
 * command is the same as in the full program (name, options, help of it and of each of its
 * subcommands), and any other first word (help, a mistyped name, none) gets every command.
 */
import type { Command } from 'commander';
import { describe, expect, test } from 'vitest';
import { buildProgram } from '../../src/cli/main-program.js';
import { CLIENT_COMMAND_NAMES } from '../../src/cli/client/index.js';

function helps(command: Command, path: string[] = []): Record<string, string> {
  const out: Record<string, string> = { [[...path, command.name()].join(' ')]: command.helpInformation() };
  for (const sub of command.commands) Object.assign(out, helps(sub, [...path, command.name()]));
  return out;
}

describe('client commands built one at a time', () => {
  test('every client command alone is the same command as in the full program', async () => {
    const full = await buildProgram(undefined);
    expect(CLIENT_COMMAND_NAMES.length).toBeGreaterThan(10);
    for (const name of CLIENT_COMMAND_NAMES) {
      const alone = await buildProgram(name);
      const client = alone.commands.filter((c) => CLIENT_COMMAND_NAMES.includes(c.name()));
      expect(client.map((c) => c.name())).toEqual([name]);
      const inFull = full.commands.find((c) => c.name() === name);
      expect(inFull).toBeDefined();
      expect(helps(client[0] as Command)).toEqual(helps(inFull as Command));
    }
  });

  test('the full program has every client command, in the order of the names', async () => {
    const full = await buildProgram(undefined);
    expect(full.commands.map((c) => c.name()).filter((n) => CLIENT_COMMAND_NAMES.includes(n))).toEqual([...CLIENT_COMMAND_NAMES]);
  });

  test('help, a mistyped name or an option first: every command, as before', async () => {
    const full = (await buildProgram(undefined)).commands.map((c) => c.name());
    for (const first of ['help', 'exce', '--help', '--version']) {
      expect((await buildProgram(first)).commands.map((c) => c.name())).toEqual(full);
    }
  });
});
