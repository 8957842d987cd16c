/**
 * `agentd image build|import|ls|inspect|rm`: the image store of the home (docs/images.md).
 * These run in this process, against `<home>/images`, as root (build and import keep file
 * owners; build runs package scripts as root): a build streams mmdebstrap's progress to
 * stderr as it goes instead of one silent request. The store is safe to share with a running
 * daemon (every change is a rename); `rm` reads the daemon's state to refuse an image a
 * sandbox uses. The same operations are REST routes of the daemon (admin role for the ones
 * that write).
 */
import { Command } from 'commander';
import type { LocalFlags } from './local.js';
import type { ImageInfo, ImageStore } from '../images/store.js';

interface ImageFlags extends LocalFlags {
  json?: boolean;
  packages?: string;
  suite?: string;
}

async function store(flags: ImageFlags): Promise<{ store: ImageStore; home: string }> {
  const { loadLocalConfig } = await import('./local.js');
  const { ImageStore } = await import('../images/store.js');
  const config = await loadLocalConfig(flags);
  return { store: new ImageStore(config.home), home: config.home };
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function printInfo(info: ImageInfo, json: boolean | undefined): void {
  if (json === true) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${info.name ?? '-'}\t${info.digest}\t${mib(info.size_bytes)}\t${info.file_count} files\t${info.seconds ?? '?'} s\n`);
}

export function imageCommand(): Command {
  const cmd = new Command('image').description("Images: root file systems a sandbox can run on, each with its own writable layer (root daemon; backends whose probe offers images: agentd doctor)");
  const common = (c: Command): Command => c.option('-c, --config <file>', 'config file (TOML)').option('--json', 'print JSON');
  common(cmd.command('build <name>'))
    .description('Build a Debian image with mmdebstrap from the mirror apt uses here (root; runs package scripts as root)')
    .option('--packages <list>', 'comma-separated Debian packages to include (e.g. python3,python3-pytest,nodejs,git)')
    .option('--suite <suite>', 'Debian suite (default: the host apt source\'s, e.g. bookworm)')
    .action(async (name: string, flags: ImageFlags) => {
      const { buildImage } = await import('../images/build.js');
      const { store: s } = await store(flags);
      const packages = (flags.packages ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
      const info = await buildImage(s, { name, packages, ...(flags.suite === undefined ? {} : { suite: flags.suite }) }, (line) => process.stderr.write(`${line}\n`));
      printInfo(info, flags.json);
    });
  common(cmd.command('import <name> <source>'))
    .description('Import a root file system tarball (.tar, .tar.gz) or an OCI image layout directory (root)')
    .action(async (name: string, source: string, flags: ImageFlags) => {
      const { importImage } = await import('../images/import.js');
      const { store: s } = await store(flags);
      printInfo(await importImage(s, name, source, (line) => process.stderr.write(`${line}\n`)), flags.json);
    });
  common(cmd.command('ls'))
    .description('List images (name, digest, size, files, build seconds)')
    .action(async (flags: ImageFlags) => {
      const { store: s } = await store(flags);
      const all = await s.list();
      if (flags.json === true) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
      else for (const i of all) printInfo(i, false);
    });
  common(cmd.command('inspect <name>'))
    .description("An image's metadata (JSON)")
    .action(async (name: string, flags: ImageFlags) => {
      const { store: s } = await store(flags);
      printInfo(await s.inspect(name), true);
    });
  common(cmd.command('rm <name>'))
    .description('Remove an image name (and its files when no other name points at them); refused while a sandbox uses it')
    .action(async (name: string, flags: ImageFlags) => {
      const { sandboxesUsingImage } = await import('../images/users.js');
      const { store: s, home } = await store(flags);
      const out = await s.remove(name, (digest) => sandboxesUsingImage(home, digest));
      if (flags.json === true) process.stdout.write(`${JSON.stringify(out)}\n`);
      else process.stdout.write(`removed ${name}${out.blobRemoved ? ` (${out.digest})` : ''}\n`);
    });
  return cmd;
}
