/** `agentd sandbox create|ls|info|rm|start|suspend|resume|snapshot|restore|fork`. */
import type { AgentdClient, NetworkMode, SandboxInfo, SandboxSpec, SandboxState } from '@agentd/sdk';
import { Command } from 'commander';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
import { guarded } from './errors.js';
import type { CliIo } from './io.js';
import { formatAge, formatBytes, formatLabels, formatTime, printFields, printJson, printTable } from './output.js';
import { collectKeyValue, parseInteger, parseSeconds, parseSize } from './parse.js';
import { SNAPSHOT_FATE } from './snapshot.js';
import { withProgress } from './spinner.js';

interface CreateFlags extends ClientFlags {
  backend?: string;
  profile?: string;
  env?: Record<string, string>;
  workdir?: string;
  network?: NetworkMode;
  memory?: number;
  pids?: number;
  cpus?: number;
  label?: Record<string, string>;
  ttl?: number;
}

function specFrom(flags: CreateFlags): SandboxSpec {
  const limits = {
    ...(flags.memory === undefined ? {} : { memoryBytes: flags.memory }),
    ...(flags.pids === undefined ? {} : { pids: flags.pids }),
    ...(flags.cpus === undefined ? {} : { cpus: flags.cpus }),
  };
  return {
    ...(flags.backend === undefined ? {} : { backend: flags.backend }),
    ...(flags.profile === undefined ? {} : { profile: flags.profile }),
    ...(flags.env === undefined ? {} : { env: flags.env }),
    ...(flags.workdir === undefined ? {} : { workdir: flags.workdir }),
    ...(flags.network === undefined ? {} : { network: flags.network }),
    ...(Object.keys(limits).length === 0 ? {} : { limits }),
    ...(flags.label === undefined ? {} : { labels: flags.label }),
    ...(flags.ttl === undefined ? {} : { ttlMs: flags.ttl }),
  };
}

function sandboxFields(s: SandboxInfo): [string, string][] {
  const fields: [string, string][] = [
    ['id', s.id],
    ['state', s.state],
    ['backend', s.backend],
    ['profile', s.profile],
    ['tenant', s.tenant],
    ['labels', formatLabels(s.labels)],
    ['created', `${formatTime(s.createdAtMs)} (${formatAge(s.createdAtMs)})`],
  ];
  if (s.expiresAtMs !== undefined) fields.push(['expires', `${formatTime(s.expiresAtMs)} (${formatAge(s.expiresAtMs)})`]);
  if (s.usage !== undefined) {
    fields.push(['memory', `${formatBytes(s.usage.memoryBytes)} (peak ${formatBytes(s.usage.memoryPeakBytes)})`]);
    fields.push(['cpu', `${s.usage.cpuMs} ms`], ['pids', String(s.usage.pids)]);
  }
  return fields;
}

/** Prints a sandbox after a state change: JSON, or "<id> <state>". */
function printState(io: CliIo, flags: ClientFlags, s: SandboxInfo): void {
  if (flags.json === true) printJson(io, s);
  else io.stdout.write(`${s.id} ${s.state}\n`);
}

function leaf(parent: Command, name: string, description: string): Command {
  return withClientFlags(parent.command(name).description(description));
}

type Action<F> = (client: AgentdClient, flags: F, args: string[]) => Promise<void>;

/** Attaches an action that receives the client, the flags and the positional arguments. */
function act<F extends ClientFlags>(io: CliIo, command: Command, action: Action<F>): void {
  command.action(
    guarded(io, async (...raw: unknown[]) => {
      const cmd = raw.at(-1) as Command;
      const flags = cmd.opts<F>();
      const args = raw.slice(0, -2).flatMap((a) => (Array.isArray(a) ? (a as string[]) : [a as string]));
      await action(connect(flags, io.env), flags, args);
    }),
  );
}

export function sandboxCommand(io: CliIo): Command {
  const sandbox = new Command('sandbox').description('manage sandboxes on a running daemon');

  act<CreateFlags>(
    io,
    leaf(sandbox, 'create', 'create a sandbox (prints its id)')
      .option('--backend <name>', 'isolation backend (namespace, host-direct, ...)')
      .option('--profile <name>', 'security profile')
      .option('--env <K=V>', 'environment variable (repeatable)', collectKeyValue)
      .option('--workdir <dir>', 'working directory inside the sandbox')
      .option('--network <mode>', 'none, allowlist or host')
      .option('--memory <size>', 'memory limit, e.g. 512m', parseSize)
      .option('--pids <n>', 'process limit', parseInteger)
      .option('--cpus <n>', 'CPU limit', Number)
      .option('--label <k=v>', 'label (repeatable)', collectKeyValue)
      .option('--ttl <seconds>', 'destroy after this long', parseSeconds),
    async (client, flags) => {
      const s = await withProgress(io, 'creating sandbox', () => client.createSandbox(specFrom(flags)));
      if (flags.json === true) printJson(io, s);
      else io.stdout.write(`${s.id}\n`);
    },
  );

  act<ClientFlags & { state?: SandboxState; backend?: string; label?: Record<string, string> }>(
    io,
    leaf(sandbox, 'ls', 'list sandboxes')
      .alias('list')
      .option('--state <state>', 'only sandboxes in this state')
      .option('--backend <name>', 'only sandboxes of this backend')
      .option('--label <k=v>', 'only sandboxes with this label (repeatable)', collectKeyValue),
    async (client, flags) => {
      const list = await client.listSandboxes({
        ...(flags.state === undefined ? {} : { state: flags.state }),
        ...(flags.backend === undefined ? {} : { backend: flags.backend }),
        ...(flags.label === undefined ? {} : { labels: flags.label }),
      });
      if (flags.json === true) return printJson(io, list);
      printTable(
        io,
        ['ID', 'STATE', 'BACKEND', 'PROFILE', 'CREATED', 'LABELS'],
        list.map((s) => [s.id, s.state, s.backend, s.profile, formatAge(s.createdAtMs), formatLabels(s.labels)]),
      );
    },
  );

  act(io, leaf(sandbox, 'info', 'show one sandbox').argument('<id>'), async (client, flags, [id = '']) => {
    const s = await client.getSandbox(id);
    if (flags.json === true) printJson(io, s);
    else printFields(io, sandboxFields(s));
  });

  act<ClientFlags & { keepFiles?: boolean }>(
    io,
    leaf(sandbox, 'rm', 'destroy sandboxes and their snapshots').alias('destroy').argument('<id...>').option('--keep-files', 'keep the files and snapshots on disk').addHelpText('after', `\n${SNAPSHOT_FATE}\n`),
    async (client, flags, ids) => {
      for (const id of ids) {
        await withProgress(io, `destroying ${id}`, () => client.destroySandbox(id, flags.keepFiles === true ? { keepFiles: true } : {}));
        if (flags.json !== true) io.stdout.write(`${id}\n`);
      }
      if (flags.json === true) printJson(io, { destroyed: ids });
    },
  );

  const actionHelp = { start: 'start a stopped sandbox (after an idle stop or a daemon restart; its files are kept)', suspend: 'suspend a sandbox', resume: 'resume a sandbox' };
  for (const action of ['start', 'suspend', 'resume'] as const) {
    act(io, leaf(sandbox, action, actionHelp[action]).argument('<id>'), async (client, flags, [id = '']) => {
      printState(io, flags, await withProgress(io, `${action} ${id}`, () => client.sandboxAction(id, action, {})));
    });
  }

  act<ClientFlags & { name?: string }>(
    io,
    leaf(sandbox, 'snapshot', "snapshot a sandbox's files (prints the snapshot id)").argument('<id>').option('--name <name>', 'snapshot name'),
    async (client, flags, [id = '']) => {
      const snap = await withProgress(io, `snapshotting ${id}`, () => client.snapshotSandbox(id, flags.name === undefined ? {} : { name: flags.name }));
      if (flags.json === true) printJson(io, snap);
      else io.stdout.write(`${snap.id}\n`);
    },
  );

  act(io, leaf(sandbox, 'restore', 'put a sandbox back to a snapshot').argument('<id>').argument('<snapshot-id>'), async (client, flags, [id = '', snapshotId = '']) => {
    printState(io, flags, await withProgress(io, `restoring ${id}`, () => client.sandboxAction(id, 'restore', { snapshot_id: snapshotId })));
  });

  act<ClientFlags & { snapshot?: string }>(
    io,
    leaf(sandbox, 'fork', 'create a new sandbox from a snapshot of this one (prints the new id)')
      .argument('<id>')
      .option('--snapshot <snapshot-id>', 'fork from this snapshot (default: snapshot now)'),
    async (client, flags, [id = '']) => {
      const body = flags.snapshot === undefined ? {} : { snapshot_id: flags.snapshot };
      const s = await withProgress(io, `forking ${id}`, () => client.sandboxAction(id, 'fork', body));
      if (flags.json === true) printJson(io, s);
      else io.stdout.write(`${s.id}\n`);
    },
  );

  act(io, leaf(sandbox, 'snapshots', 'list snapshots (also: agentd snapshot ls)'), async (client, flags) => {
    const list = await client.listSnapshots();
    if (flags.json === true) return printJson(io, list);
    printTable(
      io,
      ['ID', 'SANDBOX', 'NAME', 'CREATED', 'SIZE'],
      list.map((s) => [s.id, s.sandboxId, s.name ?? '-', formatAge(s.createdAtMs), formatBytes(s.sizeBytes)]),
    );
  });

  return sandbox;
}
