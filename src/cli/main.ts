import { Command, CommanderError } from 'commander';
import { version } from '../shared/version.js';
import { registerImageCommands } from './commands/image.js';
import { registerAgentCommand } from './commands/agent.js';
import { registerUpCommand } from './commands/up.js';
import { printError } from './output.js';

/** Builds the `drover` command tree. */
export function buildProgram(): Command {
  const program = new Command('drover')
    .description('Drover: run VMs and containers across a fleet of hosts, from one place')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerImageCommands(program);
  registerAgentCommand(program);
  registerUpCommand(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const json = process.argv.includes('json');
    printError(err, json ? 'json' : 'table');
    process.exitCode = 1;
  }
}

await main();
