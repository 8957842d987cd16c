import { Command } from 'commander';

export function serveCommandCli(): Command {
  return new Command('serve')
    .description('Run the agentd daemon (REST API on HTTP and a Unix socket); SIGTERM stops it gracefully, SIGHUP reloads the config')
    .option('-c, --config <file>', 'config file (TOML); default $AGENTD_CONFIG or the default path')
    .option('-l, --listen <host:port>', 'HTTP listen address (also AGENTD_HTTP_LISTEN); default 127.0.0.1:7070')
    .option('-s, --socket <path>', 'Unix socket path (also AGENTD_SOCKET); default <home>/agentd.sock')
    .action(async (flags: { config?: string; listen?: string; socket?: string }) => {
      // Loaded on use: the daemon's modules (fastify, SQLite, auth) would slow every other command's start.
      const { serveCommand } = await import('../runtime/serve.js');
      await serveCommand(flags);
    });
}
