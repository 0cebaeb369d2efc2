import type { Command } from 'commander';
import { defaultDataDir } from '../../shared/paths.js';
import { runAgent } from '../../agent/main.js';

/** `drover agent`: runs a host agent in the foreground. */
export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('Run a host agent in the foreground (VMs it starts keep running when it stops)')
    .option('--data-dir <dir>', 'where VM disks, images and runtime state live', defaultDataDir())
    .option('--listen <addr>', 'host:port to serve the agent API on', '127.0.0.1:7701')
    .action(async (opts: { dataDir: string; listen: string }) => {
      await runAgent({ dataDir: opts.dataDir, listen: opts.listen });
    });
}
