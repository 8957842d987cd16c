/** `agentd network show|rules|verify` and `agentd port ls|add|rm`: a sandbox's egress rules, its bypass self-test, its exposed ports (docs/network.md). */
import { Command } from 'commander';
import { act } from './action.js';
import { withClientFlags, type ClientFlags } from './connection.js';
import type { CliIo } from './io.js';
import { printFields, printJson, printTable } from './output.js';
import { enc, listOf, num, restGet, restPost, str, type Rest } from './rest.js';

function collectRepeat(value: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), value];
}

const leaf = (parent: Command, name: string, description: string): Command => withClientFlags(parent.command(name).description(description));

function rulesText(list: unknown): string {
  return Array.isArray(list) ? (list.length === 0 ? '(none)' : list.join(' ')) : "(the daemon's)";
}

function printNetwork(io: CliIo, n: Rest): void {
  const rules = (n.rules ?? {}) as Rest;
  const config = (n.config ?? {}) as Rest;
  printFields(io, [
    ['network', str(n, 'network')],
    ['proxy', typeof n.proxy === 'string' ? n.proxy : '-'],
    ['allow', rulesText(rules.allow)],
    ['deny', rulesText(rules.deny)],
    ['daemon allow', rulesText(config.allow)],
    ['daemon deny', rulesText(config.deny)],
  ]);
}

export function networkCommand(io: CliIo): Command {
  const network = new Command('network').description("a sandbox's network: egress rules and the bypass self-test");
  act(io, leaf(network, 'show', "show a sandbox's network mode and egress rules").argument('<id>'), async (client, flags, [id = '']) => {
    const n = await restGet(client, `/v1/sandboxes/${enc(id)}/network`);
    if (flags.json === true) printJson(io, n);
    else printNetwork(io, n);
  });
  act<ClientFlags & { allow?: string[]; deny?: string[]; daemonAllow?: boolean }>(
    io,
    leaf(network, 'rules', "replace a running sandbox's egress rules (new connections follow them at once)")
      .argument('<id>')
      .option('--allow <rule>', "a host it may reach (repeatable; within the daemon's network.allow)", collectRepeat)
      .option('--deny <rule>', 'a host it may never reach (repeatable)', collectRepeat),
    async (client, flags, [id = '']) => {
      const body = { ...(flags.allow ? { allow: flags.allow } : {}), ...(flags.deny ? { deny: flags.deny } : {}) };
      const n = (await client.transport.json({ method: 'PUT', path: `/v1/sandboxes/${enc(id)}/network/rules`, json: body })) as Rest;
      if (flags.json === true) printJson(io, n);
      else printNetwork(io, n);
    },
  );
  act(io, leaf(network, 'verify', 'run the bypass probes inside a sandbox; exit 1 when one got through').argument('<id>'), async (client, flags, [id = '']) => {
    const r = await restPost(client, `/v1/sandboxes/${enc(id)}/network/verify`, {});
    if (flags.json === true) printJson(io, r);
    else printTable(io, ['PROBE', 'RESULT', 'DETAIL'], listOf(r, 'probes').map((p) => [str(p, 'name'), str(p, 'result'), str(p, 'detail')]));
    if (r.held !== true) io.setExitCode(1);
  });
  return network;
}

export function portCommand(io: CliIo): Command {
  const port = new Command('port').description("a sandbox's ports exposed on the host");
  const table = (list: Rest[]): void => printTable(io, ['PORT', 'HOST', 'URL'], list.map((p) => [String(num(p, 'port') ?? ''), `${str(p, 'host')}:${num(p, 'host_port') ?? ''}`, str(p, 'url')]));
  act(io, leaf(port, 'ls', "list a sandbox's exposed ports").alias('list').argument('<id>'), async (client, flags, [id = '']) => {
    const r = await restGet(client, `/v1/sandboxes/${enc(id)}/ports`);
    if (flags.json === true) printJson(io, r);
    else table(listOf(r, 'ports'));
  });
  act(io, leaf(port, 'add', 'expose a sandbox port: 8080, 9000:8080 or 127.0.0.1:9000:8080 (docker -p style)').argument('<id>').argument('<publish>'), async (client, flags, [id = '', spec = '']) => {
    const r = await restPost(client, `/v1/sandboxes/${enc(id)}/ports`, { publish: spec });
    if (flags.json === true) printJson(io, r);
    else table([r]);
  });
  act(io, leaf(port, 'rm', 'stop exposing a sandbox port').argument('<id>').argument('<port>'), async (client, _flags, [id = '', p = '']) => {
    await client.transport.json({ method: 'DELETE', path: `/v1/sandboxes/${enc(id)}/ports/${enc(p)}` });
  });
  return port;
}
