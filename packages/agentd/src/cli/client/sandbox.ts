/** `agentd sandbox create|ls|info|rm|start|suspend|resume|snapshot|restore|fork|snapshots`, over REST (rest.ts). */
import type { NetworkMode, SandboxState } from '@agentd/sdk';
import { Command, Option } from 'commander';
import { act } from './action.js';
import { withClientFlags, type ClientFlags } from './connection.js';
import type { CliIo } from './io.js';
import { formatAge, formatBytes, formatLabels, formatTime, printFields, printJson, printTable } from './output.js';
import { collectKeyValue, parseInteger, parseSeconds, parseSize } from './parse.js';
import { enc, listOf, num, restGet, restPost, str, type Rest } from './rest.js';
import { SNAPSHOT_FATE } from './snapshot.js';
import { bindMountsOf, collectVolume, MOUNT_CWD_HELP, MOUNT_CWD_TARGET, VOLUME_HELP, type BindMountFlag } from '../mount-flags.js';
import { withProgress } from './spinner.js';

interface CreateFlags extends ClientFlags {
  backend?: string;
  profile?: string;
  env?: Record<string, string>;
  cwd?: string;
  workdir?: string;
  network?: NetworkMode;
  memory?: number;
  pids?: number;
  cpus?: number;
  label?: Record<string, string>;
  ttl?: number;
  volume?: BindMountFlag[];
  mountCwd?: boolean;
  allow?: string[];
  deny?: string[];
  publish?: string[];
  image?: string;
  template?: string;
}

/** The REST SandboxCreate body of the flags (docs/api.md), field for field. */
export function createBody(flags: CreateFlags): Rest {
  const limits = {
    ...(flags.memory === undefined ? {} : { memory_bytes: flags.memory }),
    ...(flags.pids === undefined ? {} : { pids: flags.pids }),
    ...(flags.cpus === undefined ? {} : { cpus: flags.cpus }),
  };
  const mounts = bindMountsOf(flags);
  const workdir = flags.cwd ?? flags.workdir ?? (flags.mountCwd === true ? MOUNT_CWD_TARGET : undefined);
  return {
    ...(flags.backend === undefined ? {} : { backend: flags.backend }),
    ...(flags.profile === undefined ? {} : { profile: flags.profile }),
    ...(flags.env === undefined ? {} : { env: flags.env }),
    ...(workdir === undefined ? {} : { workdir }),
    ...(flags.network === undefined ? {} : { network: flags.network }),
    ...(Object.keys(limits).length === 0 ? {} : { limits }),
    ...(flags.label === undefined ? {} : { labels: flags.label }),
    ...(flags.ttl === undefined ? {} : { ttl_ms: flags.ttl }),
    ...(mounts.length === 0 ? {} : { bind_mounts: mounts }),
    ...(flags.allow === undefined && flags.deny === undefined ? {} : { egress: { ...(flags.allow ? { allow: flags.allow } : {}), ...(flags.deny ? { deny: flags.deny } : {}) } }),
    ...(flags.publish === undefined ? {} : { ports: flags.publish }),
    ...(flags.image === undefined ? {} : { image: flags.image }),
    ...(flags.template === undefined ? {} : { template: flags.template }),
  };
}

function labelsOf(s: Rest): Record<string, string> {
  return typeof s.labels === 'object' && s.labels !== null ? (s.labels as Record<string, string>) : {};
}

function sandboxFields(s: Rest): [string, string][] {
  const created = num(s, 'created_at_ms') ?? 0;
  const fields: [string, string][] = [
    ['id', str(s, 'id')],
    ['state', str(s, 'state')],
    ['backend', str(s, 'backend')],
    ['profile', str(s, 'profile')],
    ['tenant', str(s, 'tenant')],
    ['labels', formatLabels(labelsOf(s))],
    ['created', `${formatTime(created)} (${formatAge(created)})`],
  ];
  const expires = num(s, 'expires_at_ms');
  if (expires !== undefined) fields.push(['expires', `${formatTime(expires)} (${formatAge(expires)})`]);
  if (typeof s.last_error === 'string') fields.push(['last error', s.last_error]);
  const usage = s.usage as Rest | undefined;
  if (typeof usage === 'object' && usage !== null) {
    fields.push(['memory', `${formatBytes(num(usage, 'memory_bytes') ?? 0)} (peak ${formatBytes(num(usage, 'memory_peak_bytes') ?? 0)})`]);
    fields.push(['cpu', `${num(usage, 'cpu_ms') ?? 0} ms`], ['pids', String(num(usage, 'pids') ?? 0)]);
  }
  return fields;
}

/** Prints a sandbox after a state change: JSON, or "<id> <state>". */
function printState(io: CliIo, flags: ClientFlags, s: Rest): void {
  if (flags.json === true) printJson(io, s);
  else io.stdout.write(`${str(s, 'id')} ${str(s, 'state')}\n`);
}

function leaf(parent: Command, name: string, description: string): Command {
  return withClientFlags(parent.command(name).description(description));
}


function collectRepeat(value: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), value];
}

export function sandboxCommand(io: CliIo): Command {
  const sandbox = new Command('sandbox').description('manage sandboxes on a running daemon');

  act<CreateFlags>(
    io,
    leaf(sandbox, 'create', 'create a sandbox (prints its id)')
      .option('--backend <name>', 'isolation backend (namespace, host-direct, ...)')
      .option('--profile <name>', 'security profile')
      .option('-e, --env <K=V>', 'environment variable (repeatable)', collectKeyValue)
      .option('-w, --cwd <dir>', 'working directory inside the sandbox (the API\'s workdir)')
      .addOption(new Option('--workdir <dir>', 'same as --cwd').hideHelp())
      .option('--network <mode>', 'none, allowlist or host')
      .option('--allow <rule>', "with --network allowlist: a host it may reach ('pypi.org', '*.npmjs.org', 'host:443'; repeatable; within the daemon's network.allow)", collectRepeat)
      .option('--deny <rule>', 'a host it may never reach (repeatable; deny wins)', collectRepeat)
      .option('-p, --publish <[ip:]host:port>', "expose a sandbox port on the host, docker style: 8080, 9000:8080, 127.0.0.1:9000:8080 (repeatable)", collectRepeat)
      .option('--memory <size>', 'memory limit: 512m, 2g, or bytes', parseSize)
      .option('--pids <n>', 'process limit', parseInteger)
      .option('--cpus <n>', 'CPU limit', Number)
      .option('--label <k=v>', 'label (repeatable)', collectKeyValue)
      .option('--ttl <duration>', 'destroy after this long: 30m, 2h, 1d; a bare number is seconds', parseSeconds)
      .option('-v, --volume <HOST[:SANDBOX][:ro]>', VOLUME_HELP, collectVolume)
      .option('--mount-cwd', MOUNT_CWD_HELP.replace('and run there', 'as the sandbox\'s workdir'))
      .option('--image <name>', "a stored image as the sandbox's root file system, with its own writable layer (agentd image ls)")
      .option('--template <name>', "a template of the daemon's config (its image and defaults)"),
    async (client, flags) => {
      const s = await withProgress(io, 'creating sandbox', () => restPost(client, '/v1/sandboxes', createBody(flags)));
      if (flags.json === true) printJson(io, s);
      else io.stdout.write(`${str(s, 'id')}\n`);
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
      const answer = await restGet(client, '/v1/sandboxes', {
        state: flags.state,
        backend: flags.backend,
        label: Object.entries(flags.label ?? {}).map(([k, v]) => `${k}=${v}`),
      });
      if (flags.json === true) return printJson(io, answer);
      printTable(
        io,
        ['ID', 'STATE', 'BACKEND', 'PROFILE', 'CREATED', 'LABELS'],
        listOf(answer, 'sandboxes').map((s) => [str(s, 'id'), str(s, 'state'), str(s, 'backend'), str(s, 'profile'), formatAge(num(s, 'created_at_ms') ?? 0), formatLabels(labelsOf(s))]),
      );
    },
  );

  act(io, leaf(sandbox, 'info', 'show one sandbox').argument('<id>'), async (client, flags, [id = '']) => {
    const s = await restGet(client, `/v1/sandboxes/${enc(id)}`);
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
      printState(io, flags, await withProgress(io, `${action} ${id}`, () => restPost(client, `/v1/sandboxes/${enc(id)}/${action}`, {})));
    });
  }

  act<ClientFlags & { name?: string }>(
    io,
    leaf(sandbox, 'snapshot', "snapshot a sandbox's files (prints the snapshot id)").argument('<id>').option('--name <name>', 'snapshot name'),
    async (client, flags, [id = '']) => {
      const snap = await withProgress(io, `snapshotting ${id}`, () => restPost(client, `/v1/sandboxes/${enc(id)}/snapshot`, flags.name === undefined ? {} : { name: flags.name }));
      if (flags.json === true) printJson(io, snap);
      else io.stdout.write(`${str(snap, 'id')}\n`);
    },
  );

  act(io, leaf(sandbox, 'restore', 'put a sandbox back to a snapshot').argument('<id>').argument('<snapshot-id>'), async (client, flags, [id = '', snapshotId = '']) => {
    printState(io, flags, await withProgress(io, `restoring ${id}`, () => restPost(client, `/v1/sandboxes/${enc(id)}/restore`, { snapshot_id: snapshotId })));
  });

  act<ClientFlags & { snapshot?: string }>(
    io,
    leaf(sandbox, 'fork', 'create a new sandbox from a snapshot of this one (prints the new id)')
      .argument('<id>')
      .option('--snapshot <snapshot-id>', 'fork from this snapshot (default: snapshot now)'),
    async (client, flags, [id = '']) => {
      const body = flags.snapshot === undefined ? {} : { snapshot_id: flags.snapshot };
      const s = await withProgress(io, `forking ${id}`, () => restPost(client, `/v1/sandboxes/${enc(id)}/fork`, body));
      if (flags.json === true) printJson(io, s);
      else io.stdout.write(`${str(s, 'id')}\n`);
    },
  );

  act(io, leaf(sandbox, 'snapshots', 'list snapshots (also: agentd snapshot ls)'), async (client, flags) => {
    const answer = await restGet(client, '/v1/snapshots');
    if (flags.json === true) return printJson(io, answer);
    printTable(
      io,
      ['ID', 'SANDBOX', 'NAME', 'CREATED', 'SIZE'],
      listOf(answer, 'snapshots').map((s) => [str(s, 'id'), str(s, 'sandbox_id'), str(s, 'name'), formatAge(num(s, 'created_at_ms') ?? 0), formatBytes(num(s, 'size_bytes') ?? 0)]),
    );
  });

  return sandbox;
}
