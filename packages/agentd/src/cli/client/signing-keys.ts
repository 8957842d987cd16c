/** `agentd signing-keys keygen|register|ls|revoke`: Ed25519 keys for signed requests. */
// fs.promises, not node:fs/promises: loaded on first use, not at every start of the CLI (it brings readline and more).
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { connect, withClientFlags, type ClientFlags } from './connection.js';
import { UsageError, guarded } from './errors.js';
import type { CliIo } from './io.js';
import { keyTimes, revokeCommand } from './keys.js';
import { printJson, printTable } from './output.js';
import { collectList } from './parse.js';
import { restGet, restPost } from './rest.js';

interface KeygenFlags {
  out?: string;
  name: string;
  json?: boolean;
}

interface RegisterFlags extends ClientFlags {
  publicKey?: string;
  id?: string;
  subject?: string;
  tenant?: string;
  role?: string[];
}

/** Writes `<dir>/<name>.key` (PKCS#8 PEM, 0600) and `<dir>/<name>.pub` (SPKI PEM); never overwrites either. */
async function writeKeyPair(dir: string, name: string): Promise<{ privateKeyPath: string; publicKeyPath: string; publicKey: string }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) throw new UsageError('--name is 1-64 letters, digits, _ . - (a file name, no slash)');
  // Loaded here: node:crypto costs a few ms at the start of every other command.
  const { generateKeyPairSync } = await import('node:crypto');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const privateKeyPath = join(dir, `${name}.key`);
  const publicKeyPath = join(dir, `${name}.pub`);
  const exists = (err: unknown): never => {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${(err as NodeJS.ErrnoException).path ?? name} exists; keygen never overwrites a key (choose another --name or --out)`);
    throw err;
  };
  // 'wx': created here with mode 0600 from the start (no moment where the key is readable by others), or refused.
  await fsp.writeFile(privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { flag: 'wx', mode: 0o600 }).catch(exists);
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await fsp.writeFile(publicKeyPath, publicPem, { flag: 'wx', mode: 0o644 }).catch(async (err: unknown) => {
    await fsp.rm(privateKeyPath, { force: true }); // no private key without its public half
    exists(err);
  });
  return { privateKeyPath, publicKeyPath, publicKey: publicPem };
}

export function signingKeysCommand(io: CliIo): Command {
  const keys = new Command('signing-keys').description('Ed25519 keys for signed requests: make a key pair, register its public half (admin role)');

  keys
    .command('keygen')
    .description('make an Ed25519 key pair locally: <name>.key (private, mode 0600) and <name>.pub')
    .requiredOption('--out <dir>', 'directory for the two files (created with mode 0700 if missing)')
    .option('--name <name>', 'file name without extension', 'agentd-signing')
    .option('--json', 'print the paths as JSON')
    .action(
      guarded(io, async (flags: KeygenFlags) => {
        if (flags.out === undefined) throw new UsageError('--out is required');
        const pair = await writeKeyPair(resolve(flags.out), flags.name);
        if (flags.json === true) return printJson(io, { private_key_path: pair.privateKeyPath, public_key_path: pair.publicKeyPath, public_key: pair.publicKey });
        io.stdout.write(`${pair.publicKeyPath}\n`);
        io.stderr.write(
          `wrote ${pair.privateKeyPath} (private, keep it secret) and ${pair.publicKeyPath}\n` +
            `register the public key: agentd signing-keys register --public-key ${pair.publicKeyPath} --id ID --subject NAME --tenant TENANT\n`,
        );
      }),
    );

  withClientFlags(
    keys
      .command('register')
      .description('register a public key with the daemon; requests signed by its private key then authenticate as the subject')
      .requiredOption('--public-key <file>', 'the Ed25519 public key: PEM, or the raw 32 bytes in base64 (never the private key)')
      .option('--id <id>', 'key id the client sends (default: the daemon picks sk_<hex>)')
      .requiredOption('--subject <name>', 'who the key authenticates as')
      .requiredOption('--tenant <name>', 'tenant of the key')
      .option('--role <role>', 'role (repeatable or comma-separated; default user)', collectList),
  ).action(
    guarded(io, async (flags: RegisterFlags) => {
      if (flags.publicKey === undefined || flags.subject === undefined || flags.tenant === undefined) throw new UsageError('--public-key, --subject and --tenant are required');
      const text = await fsp.readFile(flags.publicKey, 'utf8').catch((err: Error) => {
        throw new UsageError(`cannot read ${flags.publicKey ?? ''}: ${err.message}`);
      });
      if (text.includes('PRIVATE KEY')) throw new UsageError(`${flags.publicKey} holds a private key; register the public one (.pub): private keys never leave this machine`);
      const client = connect(flags, io.env);
      if (flags.json === true) {
        return printJson(io, await restPost(client, '/v1/signing-keys', {
          public_key: text.trim(), subject: flags.subject, tenant: flags.tenant, roles: flags.role ?? ['user'], ...(flags.id === undefined ? {} : { id: flags.id }),
        }));
      }
      const key = await client.registerSigningKey({
        publicKey: text.trim(), subject: flags.subject, tenant: flags.tenant, roles: flags.role ?? ['user'], ...(flags.id === undefined ? {} : { id: flags.id }),
      });
      io.stdout.write(`${key.id}\n`);
      io.stderr.write(`registered signing key ${key.id} for ${key.subject} (tenant ${key.tenant}, roles ${key.roles.join(',')}); sign with --sign-key FILE --key-id ${key.id}\n`);
    }),
  );

  withClientFlags(keys.command('ls').alias('list').description('list registered signing keys')).action(
    guarded(io, async (flags: ClientFlags) => {
      const client = connect(flags, io.env);
      if (flags.json === true) return printJson(io, await restGet(client, '/v1/signing-keys'));
      const list = await client.listSigningKeys();
      printTable(io, ['ID', 'SUBJECT', 'TENANT', 'ROLES', 'CREATED', 'REVOKED'], list.map((k) => [k.id, k.subject, k.tenant, k.roles.join(','), ...keyTimes(k)]));
    }),
  );

  revokeCommand(io, keys, 'revoke signing keys: requests they sign are refused from then on', (client, id) => client.revokeSigningKey(id));
  return keys;
}
