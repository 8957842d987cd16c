/** The client flags every command accepts, and the SDK client built from them. */
import { AgentdClient, type ClientOptions } from '@agentd/sdk';
import { unixSocketFetch } from '@agentd/sdk/node';
import type { Command } from 'commander';

export interface ClientFlags {
  url?: string;
  socket?: string;
  apiKey?: string;
  json?: boolean;
}

/** Adds --url, --socket, --api-key and --json to a command. */
export function withClientFlags(command: Command): Command {
  return command
    .option('--url <url>', 'daemon URL (env AGENTD_URL; default http://127.0.0.1:7070)')
    .option('--socket <path>', "daemon's Unix socket (env AGENTD_SOCKET)")
    .option('--api-key <key>', 'API key (env AGENTD_API_KEY)')
    .option('--json', 'print data as JSON');
}

/**
 * Where to connect: a flag beats the environment, and within each a socket beats a URL.
 * `--url` given explicitly wins over AGENTD_SOCKET from the environment.
 */
export function clientOptions(flags: ClientFlags, env: NodeJS.ProcessEnv): ClientOptions {
  const apiKey = flags.apiKey ?? env.AGENTD_API_KEY;
  const auth: ClientOptions = apiKey === undefined || apiKey === '' ? {} : { apiKey };
  const socket = flags.socket ?? (flags.url === undefined ? nonEmpty(env.AGENTD_SOCKET) : undefined);
  if (socket !== undefined) return { ...auth, baseUrl: 'http://localhost', fetch: unixSocketFetch(socket) };
  return { ...auth, baseUrl: flags.url ?? nonEmpty(env.AGENTD_URL) ?? 'http://127.0.0.1:7070' };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export function connect(flags: ClientFlags, env: NodeJS.ProcessEnv): AgentdClient {
  return new AgentdClient(clientOptions(flags, env));
}
