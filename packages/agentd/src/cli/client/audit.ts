/** `agentd audit`: recent audit events (your tenant's; admins see all). */
import { Command } from 'commander';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
import { guarded } from './errors.js';
import type { CliIo } from './io.js';
import { formatTime, printJson, printTable } from './output.js';
import { parseInteger, parseSeconds } from './parse.js';
import { restGet } from './rest.js';

interface AuditFlags extends ClientFlags {
  limit?: number;
  since?: number;
}

export function auditCommand(io: CliIo): Command {
  return withClientFlags(
    new Command('audit')
      .description('show audit events, newest first')
      .option('--limit <n>', 'most events (default 100)', parseInteger)
      .option('--since <duration>', 'only events of the last 30s, 10m, 2h... (a bare number is seconds)', parseSeconds),
  ).action(
    guarded(io, async (flags: AuditFlags) => {
      const client = connect(flags, io.env);
      if (flags.json === true) {
        return printJson(io, await restGet(client, '/v1/audit', { limit: flags.limit, since_ms: flags.since === undefined ? undefined : Date.now() - flags.since }));
      }
      const events = await client.audit({
        ...(flags.limit === undefined ? {} : { limit: flags.limit }),
        ...(flags.since === undefined ? {} : { sinceMs: Date.now() - flags.since }),
      });
      printTable(
        io,
        ['TIME', 'SUBJECT', 'TENANT', 'ACTION', 'SANDBOX', 'STATUS', 'CODE', 'MS'],
        events.map((e) => [
          formatTime(e.tsMs),
          e.subject ?? '-',
          e.tenant ?? '-',
          e.capability === null ? e.action : `${e.action} ${e.capability}`,
          e.sandboxId ?? '-',
          e.status,
          e.code ?? '-',
          e.durationMs === null ? '-' : String(e.durationMs),
        ]),
      );
    }),
  );
}
