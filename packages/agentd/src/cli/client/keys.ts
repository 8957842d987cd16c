/** `agentd keys create|ls|revoke`: API keys (admin role). */
import type { AgentdClient } from '@agentd/sdk';
import { Command } from 'commander';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
import { UsageError, guarded } from './errors.js';
import type { CliIo } from './io.js';
import { formatTime, printJson, printTable } from './output.js';
import { collectList } from './parse.js';
import { restGet, restPost } from './rest.js';

interface CreateFlags extends ClientFlags {
  subject?: string;
  tenant?: string;
  role?: string[];
  e2b?: boolean;
}

export function keysCommand(io: CliIo): Command {
  const keys = new Command('keys').description('manage API keys (admin role)');

  withClientFlags(
    keys
      .command('create')
      .description('create an API key; its secret is printed once')
      .requiredOption('--subject <name>', 'who the key authenticates as')
      .requiredOption('--tenant <name>', 'tenant of the key')
      .option('--role <role>', 'role (repeatable or comma-separated; default user)', collectList)
      .option('--e2b', 'an E2B API key (e2b_...) for the stock E2B SDKs (E2B_API_KEY; docs/e2b.md)'),
  ).action(
    guarded(io, async (flags: CreateFlags) => {
      if (flags.subject === undefined || flags.tenant === undefined) throw new UsageError('--subject and --tenant are required');
      const client = connect(flags, io.env);
      if (flags.e2b === true) {
        const made = await restPost(client, '/v1/keys', { subject: flags.subject, tenant: flags.tenant, roles: flags.role ?? ['user'], kind: 'e2b' }) as { id: string; key: string };
        if (flags.json === true) return printJson(io, made);
        io.stdout.write(`${made.key}\n`);
        io.stderr.write(`created E2B key ${made.id} for ${flags.subject} (tenant ${flags.tenant}); the key above is shown only once: E2B_API_KEY=<it>\n`);
        return;
      }
      if (flags.json === true) return printJson(io, await restPost(client, '/v1/keys', { subject: flags.subject, tenant: flags.tenant, roles: flags.role ?? ['user'] }));
      const key = await client.createKey({ subject: flags.subject, tenant: flags.tenant, roles: flags.role ?? ['user'] });
      io.stdout.write(`${key.secret ?? ''}\n`);
      io.stderr.write(`created key ${key.id} for ${key.subject} (tenant ${key.tenant}, roles ${key.roles.join(',')}); the secret above is shown only once\n`);
    }),
  );

  withClientFlags(keys.command('ls').alias('list').description('list API keys (no secrets)')).action(
    guarded(io, async (flags: ClientFlags) => {
      const client = connect(flags, io.env);
      if (flags.json === true) return printJson(io, await restGet(client, '/v1/keys'));
      const list = await client.listKeys();
      printTable(
        io,
        ['ID', 'PREFIX', 'SUBJECT', 'TENANT', 'ROLES', 'CREATED', 'REVOKED'],
        list.map((k) => [
          k.id,
          k.prefix ?? '-',
          k.subject,
          k.tenant,
          k.roles.join(','),
          ...keyTimes(k),
        ]),
      );
    }),
  );

  revokeCommand(io, keys, 'revoke API keys', (client, id) => client.revokeKey(id));
  return keys;
}

/** The CREATED and REVOKED cells of a key listing. */
export function keyTimes(k: { createdAtMs?: number; revokedAtMs?: number | null }): [string, string] {
  return [k.createdAtMs === undefined ? '-' : formatTime(k.createdAtMs), k.revokedAtMs === undefined || k.revokedAtMs === null ? '-' : formatTime(k.revokedAtMs)];
}

/** `<parent> revoke <id...>`: revokes each id in order, printing it (or `{revoked}` with --json). */
export function revokeCommand(io: CliIo, parent: Command, description: string, revoke: (client: AgentdClient, id: string) => Promise<void>): void {
  withClientFlags(parent.command('revoke').description(description).argument('<id...>')).action(
    guarded(io, async (ids: string[], flags: ClientFlags) => {
      const client = connect(flags, io.env);
      for (const id of ids) {
        await revoke(client, id);
        if (flags.json !== true) io.stdout.write(`${id}\n`);
      }
      if (flags.json === true) printJson(io, { revoked: ids });
    }),
  );
}
