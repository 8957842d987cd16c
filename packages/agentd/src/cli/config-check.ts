import { Command } from 'commander';

export function configCommand(): Command {
  const config = new Command('config').description('Configuration tools');
  config
    .command('check')
    .description('Validate a config file (default: $AGENTD_CONFIG or the default path) with the AGENTD_* environment; list every problem')
    .argument('[file]', 'the TOML file')
    .option('--json', 'print the resolved configuration (or the problems) as JSON')
    .action(async (file: string | undefined, flags: { json?: boolean }) => {
      const [{ checkConfigFile, formatIssues }, { checkBackendOptions }] = await Promise.all([import('../config/index.js'), import('./local.js')]);
      const result = await checkConfigFile(file, process.env, { checkBackendOptions: checkBackendOptions() });
      if (result.ok) {
        const c = result.config;
        process.stdout.write(flags.json ? `${JSON.stringify(c, null, 2)}\n` : `config OK: profile ${c.profile}, backend ${c.isolation.backend}, home ${c.home}\n`);
        return;
      }
      process.stdout.write(flags.json ? `${JSON.stringify({ ok: false, issues: result.issues }, null, 2)}\n` : `${formatIssues(result.issues)}\n`);
      process.exitCode = 1;
    });
  return config;
}
