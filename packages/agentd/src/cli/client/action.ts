/** The one way a client command runs its action: flags parsed, a client connected, errors reported (errors.ts). */
import type { AgentdClient } from '@agentd/sdk';
import type { Command } from 'commander';
import { connect, type ClientFlags } from './connection.js';
import { guarded } from './errors.js';
import type { CliIo } from './io.js';

export type Action<F> = (client: AgentdClient, flags: F, args: string[]) => Promise<void>;

/** Attaches an action that receives the client, the flags and the positional arguments. */
export function act<F extends ClientFlags>(io: CliIo, command: Command, action: Action<F>): void {
  command.action(
    guarded(io, async (...raw: unknown[]) => {
      const cmd = raw.at(-1) as Command;
      const flags = cmd.opts<F>();
      const args = raw.slice(0, -2).flatMap((a) => (Array.isArray(a) ? (a as string[]) : [a as string]));
      await action(connect(flags, io.env), flags, args);
    }),
  );
}
