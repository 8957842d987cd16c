import { Command } from 'commander';

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('Show, for every isolation backend, whether it works on this host and why not')
    .option('--json', 'print the report as JSON')
    .action(async (flags: { json?: boolean }) => {
      const { doctorReport, formatDoctor } = await import('./doctor-report.js');
      const report = await doctorReport();
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
      if (report.best === null) process.exitCode = 1;
    });
}
