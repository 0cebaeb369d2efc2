import { Command, CommanderError } from 'commander';
import { version } from '../shared/version.js';
import { registerAgentCommand } from './commands/agent.js';
import { registerUpCommand } from './commands/up.js';
import { registerControllerCommand } from './commands/controller.js';
import { registerBalanceCommands } from './commands/balance.js';
import { registerClusterCommands } from './commands/cluster.js';
import { registerEventCommands } from './commands/events.js';
import { registerHostCommands } from './commands/host.js';
import { registerHostJoinTokenCommand } from './commands/host-join.js';
import { registerImageCommands } from './commands/image.js';
import { registerNetworkCommands } from './commands/network.js';
import { registerOperationCommands } from './commands/op.js';
import { registerStoreCommands } from './commands/store.js';
import { registerTestbedCommands } from './commands/testbed.js';
import { registerTokenCommands } from './commands/token.js';
import { registerVmCommands } from './commands/vm.js';
import { registerHaCommands } from './commands/ha.js';
import { controllerUrlsOption, useControllers } from './options.js';
import { printError } from './output.js';
import { wantsJson } from './parse.js';

/** The command groups, in the order `drover --help` lists them. */
const COMMAND_GROUPS: readonly ((program: Command) => void)[] = [
  registerUpCommand,
  registerControllerCommand,
  registerVmCommands,
  registerImageCommands,
  registerHostCommands,
  registerNetworkCommands,
  registerHostJoinTokenCommand,
  registerBalanceCommands,
  registerClusterCommands,
  registerHaCommands,
  registerOperationCommands,
  registerEventCommands,
  registerTokenCommands,
  registerStoreCommands,
  registerAgentCommand,
  registerTestbedCommands,
];

/** Builds the `drover` command tree; with `json`, usage errors are printed as JSON. */
export function buildProgram(json = false): Command {
  const program = new Command('drover')
    .description('Drover: run VMs and containers across a fleet of hosts, from one place')
    .version(version)
    .showHelpAfterError(json ? false : '(run with --help for usage)')
    .showSuggestionAfterError(true)
    .configureOutput({
      outputError: (text, write) => write(json ? `${JSON.stringify({ code: 'INVALID_ARGUMENT', message: text.replace(/^error: /, '').trim() })}\n` : text),
    })
    .option('--controller <urls>', 'the controller URL, or several separated by commas, tried in order until one answers (overrides DROVER_URL and the saved config)', controllerUrlsOption)
    .hook('preAction', (self) => useControllers(self.opts<{ controller?: string }>().controller))
    .exitOverride();
  for (const register of COMMAND_GROUPS) register(program);
  return program;
}

async function main(): Promise<void> {
  const json = wantsJson(process.argv.slice(2));
  const program = buildProgram(json);
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors (already printed by commander) exit 2.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    printError(err, json ? 'json' : 'table');
    process.exitCode = 1;
  }
}

await main();
