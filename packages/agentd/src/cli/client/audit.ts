/** `agentd audit`: recent audit events (your tenant's; admins see all). */
import { Command } from 'commander';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
import { guarded } from './errors.js';
import type { CliIo } from './io.js';
import { formatTime, printJson, printTable } from './output.js';
import { parseInteger, parseSeconds } from './parse.js';

interface AuditFlags extends ClientFlags {
  limit?: number;
  since?: number;
}

export function auditCommand(io: CliIo): Command {
  return withClientFlags(
    new Command('audit')
      .description('show audit events, newest first')
      .option('--limit <n>', 'most events (default 100)', parseInteger)
      .option('--since <seconds>', 'only events of the last N seconds', parseSeconds),
  ).action(
    guarded(io, async (flags: AuditFlags) => {
      const events = await connect(flags, io.env).audit({
        ...(flags.limit === undefined ? {} : { limit: flags.limit }),
        ...(flags.since === undefined ? {} : { sinceMs: Date.now() - flags.since }),
      });
      if (flags.json === true) return printJson(io, events);
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
