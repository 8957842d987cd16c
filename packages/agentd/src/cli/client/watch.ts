/** `agentd watch ID PATH [-r]`: prints the changes in a sandbox's directory as they happen, one per line. */
import type { FileWatchEvent } from '@agentd/sdk';
import { Command } from 'commander';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
import { guarded } from './errors.js';
import type { CliIo } from './io.js';

interface WatchFlags extends ClientFlags {
  recursive?: boolean;
}

/** The REST line of an event (docs/api.md, "Watching a directory"): what --json prints. */
export function restLine(e: FileWatchEvent): Record<string, unknown> {
  return {
    type: e.type,
    ...(e.path === undefined ? {} : { path: e.path }),
    ...(e.to === undefined ? {} : { to: e.to }),
    ...(e.isDir === undefined ? {} : { is_dir: e.isDir }),
    ...(e.lost === undefined ? {} : { lost: e.lost }),
    ...(e.errno === undefined ? {} : { errno: e.errno }),
  };
}

/** One line for a person: "create    src/a.txt", "rename    a -> b", "overflow  12 events lost". */
export function textLine(e: FileWatchEvent): string {
  const name = (p: string | undefined): string => `${p ?? ''}${e.isDir === true ? '/' : ''}`;
  const kind = `${e.type.padEnd(9)} `;
  switch (e.type) {
    case 'overflow':
      return `${kind}${e.lost === 0 || e.lost === undefined ? 'events lost (the kernel queue overflowed; count unknown)' : `${e.lost} events lost`}`;
    case 'rename':
      return `${kind}${name(e.path)} -> ${name(e.to)}`;
    case 'unwatched':
      return `${kind}${name(e.path)} (not watched: ${e.errno ?? 'error'})`;
    case 'create':
    case 'write':
    case 'remove':
    case 'chmod':
      return `${kind}${name(e.path)}`;
  }
}

export function watchCommand(io: CliIo): Command {
  return withClientFlags(
    new Command('watch')
      .description('print changes in a directory of a sandbox as they happen (create, write, remove, rename, chmod, overflow), until Ctrl-C')
      .argument('<id>', 'sandbox id')
      .argument('<path>', 'directory inside the sandbox')
      .option('-r, --recursive', 'watch the whole tree below the directory'),
  ).action(
    guarded(io, async (id: string, path: string, flags: WatchFlags) => {
      const files = connect(flags, io.env).files(id);
      const json = flags.json === true;
      const w = files.watch(path, (e) => io.stdout.write(`${json ? JSON.stringify(restLine(e)) : textLine(e)}\n`), { recursive: flags.recursive === true });
      const off = io.onInterrupt(() => void w.stop());
      try {
        await w.ready;
        if (!json) io.stderr.write(`watching ${path}${flags.recursive === true ? ' (recursive)' : ''} in ${id}; Ctrl-C to stop\n`);
        const end = await w.done;
        if (end.reason !== 'stopped') {
          io.stderr.write(`agentd: the watch ended: ${end.message}\n`);
          io.setExitCode(1);
        }
      } finally {
        off();
      }
    }),
  );
}
