import { Command, Option } from 'commander';
import { collectEnv, parseSeconds } from './parse.js';
import type { RunFlags } from './run-action.js';

export function runCommandCli(): Command {
  return new Command('run')
    .description('Run one command in a fresh sandbox, stream its output live and exit with its exit code')
    .argument('<command...>', 'the command and its arguments (put them after --)')
    .option('-b, --backend <name>', 'isolation backend or alias (namespace, bwrap, host-direct, ...; default: config, else auto)')
    .option('-p, --profile <name>', 'security profile: workstation, server, paranoid, custom')
    .option('-c, --config <file>', 'config file (TOML)')
    .addOption(new Option('-t, --timeout <seconds>', 'kill the command\'s whole process tree after this many seconds (exit 124)').argParser(parseSeconds))
    .addOption(new Option('-e, --env <K=V>', 'set an environment variable (repeatable)').argParser(collectEnv).default({}, 'none'))
    .option('-C, --cwd <dir>', 'working directory inside the sandbox')
    .option('--keep', 'keep the sandbox\'s files after the command')
    .option('-v, --verbose', 'log what agentd does to stderr')
    .option('--no-probe-cache', 'probe the backends for real instead of reusing a remembered successful probe (also AGENTD_PROBE_CACHE=0)')
    .passThroughOptions()
    .action(async (command: string[], flags: RunFlags) => {
      // Loaded on use, so other commands do not pay for the backends' modules.
      const { runInFreshSandbox } = await import('./run-action.js');
      process.exitCode = await runInFreshSandbox(command, flags);
    });
}
