import { Command, Option } from 'commander';
import { EXIT_CODES_HELP } from './exit-codes.js';
import { collectEnv, parseTimeout } from './parse.js';
import { collectVolume, MOUNT_CWD_HELP, VOLUME_HELP } from './mount-flags.js';
import type { RunFlags } from './run-action.js';

export function runCommandCli(): Command {
  return new Command('run')
    .description('Run one command in a fresh sandbox, stream its output live and exit with its exit code')
    .usage('[options] [--] COMMAND [ARGS...]')
    .argument('<command...>', 'the command and its arguments (everything after the options; -- is optional)')
    .option('-b, --backend <name>', 'isolation backend or alias (namespace, bwrap, host-direct, ...; default: config, else auto)')
    .option('-p, --profile <name>', 'security profile: workstation, server, paranoid, custom')
    .option('-c, --config <file>', 'config file (TOML)')
    .addOption(new Option('--timeout <duration>', "kill the command's whole process tree after this long: 30s, 10m, 1h, 500ms; a bare number is seconds (exit 124)").argParser(parseTimeout))
    .addOption(new Option('-e, --env <K=V>', 'set an environment variable (repeatable)').argParser(collectEnv).default({}, 'none'))
    .option('-w, --cwd <dir>', 'working directory inside the sandbox')
    .addOption(new Option('-C <dir>', 'old short name of --cwd').hideHelp())
    .addOption(new Option('-v, --volume <HOST[:SANDBOX][:ro]>', VOLUME_HELP).argParser(collectVolume))
    .option('--mount-cwd', MOUNT_CWD_HELP)
    .option('-i, --interactive', "stream this process's stdin to the command (without it the command's stdin is /dev/null)")
    .option('-t, --tty', 'allocate a TTY (not supported yet)')
    .option('--image <name>', "run on a stored image's root file system with its own writable layer (agentd image ls; a backend whose probe offers images: agentd doctor)")
    .option('--template <name>', "a template of the config ([templates.NAME]: its image and defaults)")
    .option('-u, --user <user>', "who runs the command: agent (default) or root (with --image only); or uid 1000 / 0")
    .option('--keep', 'keep the sandbox\'s files after the command')
    .option('--verbose', 'log what agentd does to stderr')
    .option('--no-probe-cache', 'probe the backends for real instead of reusing a remembered successful probe (also AGENTD_PROBE_CACHE=0)')
    .addHelpText('after', `\nExamples:\n  agentd run -- make test\n  agentd run --mount-cwd -- make test\n  agentd run -v ./data:/data:ro -- ls /data\n  agentd run --timeout 10m python3 train.py\n${EXIT_CODES_HELP}`)
    .passThroughOptions()
    .action(async (command: string[], flags: RunFlags & { C?: string }) => {
      // Loaded on use, so other commands do not pay for the backends' modules.
      const { runInFreshSandbox } = await import('./run-action.js');
      const cwd = flags.cwd ?? flags.C;
      process.exitCode = await runInFreshSandbox(command[0] === '--' ? command.slice(1) : command, { ...flags, ...(cwd === undefined ? {} : { cwd }) });
    });
}
