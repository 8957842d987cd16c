/** `agentd snapshot ls|rm`: the snapshots of a running daemon (taken by `agentd sandbox snapshot`). */
import type { SnapshotInfo } from '@agentd/sdk';
import { Command } from 'commander';
import { act } from './action.js';
import { withClientFlags, type ClientFlags } from './connection.js';
import { reportError } from './errors.js';
import type { CliIo } from './io.js';
import { formatAge, formatBytes, printJson, printTable } from './output.js';

/** Where a sandbox's snapshots go, said the same way in `agentd snapshot --help` and `agentd sandbox rm --help`. */
export const SNAPSHOT_FATE =
  "A sandbox's snapshots go with it when it is destroyed (agentd sandbox rm ID), unless --keep-files keeps its files and snapshots. " +
  'The daemon also deletes snapshots past limits.snapshot_max_age_ms and, per sandbox, all but the newest limits.snapshot_keep_per_sandbox (when set).';

/** The REST shape of a snapshot (GET /v1/snapshots), which `--json` prints. */
function snapshotToWire(s: SnapshotInfo): Record<string, unknown> {
  return { id: s.id, sandbox_id: s.sandboxId, ...(s.name === undefined ? {} : { name: s.name }), created_at_ms: s.createdAtMs, size_bytes: s.sizeBytes };
}


export function snapshotCommand(io: CliIo): Command {
  const snapshot = new Command('snapshot')
    .description('list and delete snapshots (take one with: agentd sandbox snapshot ID)')
    .addHelpText('after', `\n${SNAPSHOT_FATE}\n`);

  act<ClientFlags & { sandbox?: string }>(
    io,
    withClientFlags(snapshot.command('ls').alias('list').description('list snapshots, oldest first')).option('--sandbox <id>', "only this sandbox's snapshots"),
    async (client, flags) => {
      const all = await client.listSnapshots();
      const list = flags.sandbox === undefined ? all : all.filter((s) => s.sandboxId === flags.sandbox);
      if (flags.json === true) return printJson(io, { snapshots: list.map(snapshotToWire) });
      printTable(
        io,
        ['ID', 'SANDBOX', 'NAME', 'CREATED', 'SIZE'],
        list.map((s) => [s.id, s.sandboxId, s.name ?? '-', formatAge(s.createdAtMs), formatBytes(s.sizeBytes)]),
      );
    },
  );

  act(
    io,
    withClientFlags(snapshot.command('rm').alias('delete').description('delete snapshots (files and record)')).argument('<id...>'),
    async (client, flags, ids) => {
      const deleted: string[] = [];
      // Each id on its own: one that fails is reported, the others are still deleted, and the exit code is 1.
      for (const id of ids) {
        try {
          await client.deleteSnapshot(id);
          deleted.push(id);
          if (flags.json !== true) io.stdout.write(`${id}\n`);
        } catch (err) {
          reportError(io, err);
        }
      }
      if (flags.json === true) printJson(io, { deleted });
    },
  );

  return snapshot;
}
