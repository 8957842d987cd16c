/**
 * Interactive commands over the commands WebSocket (docs/api.md, "Commands over a
 * WebSocket"): `agentd shell ID`, `agentd exec -it` / `-i`, `agentd attach ID CMD_ID`,
 * plus `agentd ps ID` and `agentd kill ID CMD_ID` over REST.
 *
 * A terminal session puts the local terminal in raw mode (every key, Ctrl-C included, goes
 * to the sandbox's terminal, whose line discipline turns it into a signal), follows the local
 * window size (SIGWINCH -> resize) and exits with the command's exit status.
 */
import type { AgentdClient } from '@agentd/sdk';
import { Command, Option } from 'commander';
import type WebSocket from 'ws';
import { EXIT_AGENTD_FAILED, exitStatusOfError } from '../exit-codes.js';
import { connect, endpoint, withClientFlags, type ClientFlags } from './connection.js';
import { guarded, UsageError } from './errors.js';
import { writeAll, type CliIo } from './io.js';
import { printJson } from './output.js';
import { collectKeyValue } from './parse.js';

interface Session {
  /** First message: start or attach. */
  first: Record<string, unknown>;
  /** Local terminal: raw mode, resize follows it. */
  tty: boolean;
  /** Forward local stdin (bytes; EOF closes the command's stdin when not a terminal). */
  stdin: boolean;
}

/** The exit status of a command as a shell gives it: its code, or 128 + signal number. */
function statusOf(exit: Record<string, unknown>): number {
  if (typeof exit.exit_code === 'number') return exit.exit_code;
  const sig = typeof exit.signal === 'string' ? exit.signal : '';
  const no = (({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 }) as Record<string, number>)[sig];
  return no === undefined ? EXIT_AGENTD_FAILED : 128 + no;
}

async function openSocket(client: AgentdClient, flags: ClientFlags, io: CliIo, sandboxId: string): Promise<WebSocket> {
  const path = `/v1/sandboxes/${encodeURIComponent(sandboxId)}/commands/connect`;
  const { headers } = await client.transport.upgradeRequest(path);
  const { socket, url } = endpoint(flags, io.env);
  const target = socket !== undefined ? `ws+unix://${socket}:${path}` : `${(url ?? 'http://127.0.0.1:7070').replace(/^http/, 'ws').replace(/\/$/, '')}${path}`;
  // Loaded here, not at start: every other command (a plain `agentd exec` among them) skips ws's dozen modules.
  const { default: WebSocketClass } = await import('ws');
  const ws = new WebSocketClass(target, { headers, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        let msg = `the daemon refused the connection (HTTP ${res.statusCode ?? 0})`;
        try {
          const e = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
          if (e?.code) msg = `${e.code}: ${e.message ?? ''}`;
        } catch {
          // not JSON: keep the status
        }
        reject(new Error(msg));
      });
    });
    ws.once('error', reject);
  });
  return ws;
}

/** Runs one session to its end; resolves with the exit status for the CLI. */
async function runSession(client: AgentdClient, flags: ClientFlags, io: CliIo, sandboxId: string, s: Session): Promise<number> {
  const ws = await openSocket(client, flags, io, sandboxId);
  const stdin = io.stdin as NodeJS.ReadStream;
  const out = io.stdout;
  let status = EXIT_AGENTD_FAILED;
  let raw = false;
  const cleanup: Array<() => void> = [];
  const size = (): { rows: number; cols: number } => ({ rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 });
  if (s.tty) {
    if (stdin.isTTY === true && typeof stdin.setRawMode === 'function') {
      stdin.setRawMode(true);
      raw = true;
      cleanup.push(() => stdin.setRawMode(false));
    }
    const onResize = (): void => ws.send(JSON.stringify({ type: 'resize', ...size() }));
    process.stdout.on('resize', onResize);
    cleanup.push(() => process.stdout.off('resize', onResize));
  }
  const first = s.tty && s.first.type === 'start' ? { ...s.first, pty: { ...size(), ...(io.env.TERM ? { term: io.env.TERM } : {}) } } : s.first;
  ws.send(JSON.stringify(first));
  const done = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) {
      const kind = data.readUInt8(0);
      void writeAll(kind === 2 ? io.stderr : out, data.subarray(9));
      return;
    }
    const m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    if (m.type === 'started' || m.type === 'attached') {
      if (flags.json !== true && m.type === 'started' && io.env.AGENTD_SHOW_COMMAND_ID === '1') io.stderr.write(`agentd: command ${String(m.command_id)}\n`);
      if (s.stdin) {
        const onData = (chunk: Buffer): void => {
          if (ws.readyState === ws.OPEN) ws.send(chunk);
        };
        const onEnd = (): void => {
          if (!s.tty && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'stdin_close' }));
        };
        stdin.on('data', onData);
        stdin.once('end', onEnd);
        stdin.resume();
        cleanup.push(() => {
          stdin.off('data', onData);
          stdin.off('end', onEnd);
          stdin.pause();
        });
      }
    } else if (m.type === 'overflow') {
      io.stderr.write(`${raw ? '\r\n' : ''}agentd: ${String(m.lost_bytes)} bytes of output were no longer held (commands.ring_buffer_bytes)${raw ? '\r\n' : '\n'}`);
    } else if (m.type === 'exit') {
      status = m.state === 'lost' ? EXIT_AGENTD_FAILED : statusOf(m);
      if (m.state === 'lost') io.stderr.write('agentd: the command was lost (its daemon stopped while it ran)\n');
    } else if (m.type === 'error') {
      const e = m.error as { code?: string; message?: string };
      io.stderr.write(`${raw ? '\r\n' : ''}error: ${e.code ?? 'INTERNAL'}: ${e.message ?? ''}\n`);
      status = exitStatusOfError(Object.assign(new Error(e.message ?? ''), { code: e.code }));
    }
  });
  // Ctrl-C of a non-terminal session stops the command (in a terminal it is a key like any other).
  const unsubscribe = io.onInterrupt(() => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'signal', signal: 'SIGINT' }));
  });
  cleanup.push(unsubscribe);
  await done;
  for (const c of cleanup.reverse()) c();
  return status;
}

/** The shell a terminal session runs when none is named: bash where the sandbox has it, else sh. */
const DEFAULT_SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi'];

export function shellCommand(io: CliIo): Command {
  const command = withClientFlags(new Command('shell')
    .description('an interactive terminal in a sandbox (like docker exec -it): raw mode, the size follows your terminal, exits with the shell\'s status')
    .usage('[options] ID [COMMAND [ARGS...]]')
    .argument('<id>', 'sandbox id')
    .argument('[command...]', 'program to run instead of the shell')
    .option('-e, --env <K=V>', 'environment variable (repeatable)', collectKeyValue)
    .option('-w, --cwd <dir>', 'working directory inside the sandbox')
    .option('--detachable', 'keep the shell running when this terminal goes away (reattach with agentd attach)')
    .passThroughOptions());
  command.action(guarded(io, async (id: string, words: string[], flags: ClientFlags & { env?: Record<string, string>; cwd?: string; detachable?: boolean }) => {
    const argv = words[0] === '--' ? words.slice(1) : words;
    const client = connect(flags, io.env);
    const status = await runSession(client, flags, io, id, {
      first: {
        type: 'start', argv: argv.length > 0 ? argv : DEFAULT_SHELL, ...(flags.env ? { env: flags.env } : {}), ...(flags.cwd ? { cwd: flags.cwd } : {}),
        keep_alive_on_disconnect: flags.detachable === true,
      },
      tty: true, stdin: true,
    });
    io.setExitCode(status);
  }, exitStatusOfError));
  return command;
}

/** `agentd exec -i` / `-it`: the same session as `shell`, for exec's flags. */
export async function interactiveExec(io: CliIo, id: string, argv: string[] | string, flags: ClientFlags & { tty?: boolean; stdin?: boolean; env?: Record<string, string>; cwd?: string; timeout?: number }): Promise<void> {
  const client = connect(flags, io.env);
  const status = await runSession(client, flags, io, id, {
    first: {
      type: 'start', ...(typeof argv === 'string' ? { command: argv } : { argv }), ...(flags.env ? { env: flags.env } : {}), ...(flags.cwd ? { cwd: flags.cwd } : {}),
      ...(flags.timeout === undefined ? {} : { timeout_ms: flags.timeout }),
      ...(flags.tty === true ? {} : { keep_stdin_open: flags.stdin === true }),
      keep_alive_on_disconnect: false,
    },
    tty: flags.tty === true, stdin: flags.stdin === true,
  });
  io.setExitCode(status);
}

export function attachCommand(io: CliIo): Command {
  const command = withClientFlags(new Command('attach')
    .description("follow a command's output from an offset (and type into it when it has a terminal and stdin is one); exits with its status")
    .argument('<id>', 'sandbox id')
    .argument('<command-id>', 'command id (agentd ps ID)')
    .addOption(new Option('--from-offset <n>', 'first byte wanted (default 0: all that is still held)').argParser((v) => Number.parseInt(v, 10)))
    .option('--no-stdin', 'only follow the output'));
  command.action(guarded(io, async (id: string, cmdId: string, flags: ClientFlags & { fromOffset?: number; stdin?: boolean }) => {
    const client = connect(flags, io.env);
    const info = (await client.transport.json({ method: 'GET', path: `/v1/sandboxes/${encodeURIComponent(id)}/commands/${encodeURIComponent(cmdId)}` })) as { pty?: boolean; state?: string };
    const tty = info.pty === true && info.state === 'running' && process.stdin.isTTY === true && flags.stdin !== false;
    const status = await runSession(client, flags, io, id, {
      first: { type: 'attach', command_id: cmdId, from_offset: flags.fromOffset ?? 0 }, tty, stdin: tty,
    });
    io.setExitCode(status);
  }, exitStatusOfError));
  return command;
}

interface PsRow {
  id: string;
  pid: number | null;
  state: string;
  started_at_ms: number;
  exit: { exit_code: number | null; signal: string | null; code: string } | null;
  argv: string[];
}

export function psCommand(io: CliIo): Command {
  const command = withClientFlags(new Command('ps').description("a sandbox's commands: running ones and those finished recently").argument('<id>', 'sandbox id'));
  command.action(guarded(io, async (id: string, flags: ClientFlags) => {
    const client = connect(flags, io.env);
    const answer = (await client.transport.json({ method: 'GET', path: `/v1/sandboxes/${encodeURIComponent(id)}/commands` })) as { commands: PsRow[] };
    if (flags.json === true) {
      printJson(io, answer);
      return;
    }
    const rows = answer.commands.map((c) => [
      c.id, c.pid === null ? '-' : String(c.pid), c.state, new Date(c.started_at_ms).toISOString(),
      c.exit === null ? '-' : c.exit.exit_code !== null ? String(c.exit.exit_code) : (c.exit.signal ?? c.exit.code), c.argv.join(' '),
    ]);
    const head = ['ID', 'PID', 'STATE', 'STARTED', 'EXIT', 'COMMAND'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (r: string[]): string => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('  ');
    await writeAll(io.stdout, `${[line(head), ...rows.map(line)].join('\n')}\n`);
  }));
  return command;
}

export function killCommand(io: CliIo): Command {
  const command = withClientFlags(new Command('kill')
    .description('kill a command and everything it started (SIGKILL), or send it a signal with --signal')
    .argument('<id>', 'sandbox id')
    .argument('<command-id>', 'command id (agentd ps ID)')
    .option('-s, --signal <name>', 'send this signal to its process group instead (SIGTERM, SIGINT, HUP...)'));
  command.action(guarded(io, async (id: string, cmdId: string, flags: ClientFlags & { signal?: string }) => {
    const client = connect(flags, io.env);
    const base = `/v1/sandboxes/${encodeURIComponent(id)}/commands/${encodeURIComponent(cmdId)}`;
    if (flags.signal === undefined) {
      await client.transport.request({ method: 'POST', path: `${base}/kill` });
      return;
    }
    const name = flags.signal.toUpperCase();
    const signal = /^\d+$/.test(name) ? Number(name) : name.startsWith('SIG') ? name : `SIG${name}`;
    if (typeof signal === 'string' && !/^SIG[A-Z0-9]+$/.test(signal)) throw new UsageError(`--signal ${flags.signal}: not a signal name`);
    await client.transport.request({ method: 'POST', path: `${base}/signal`, json: { signal } });
  }));
  return command;
}
