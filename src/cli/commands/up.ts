import type { Command } from 'commander';
import { DroverError } from '../../shared/errors.js';
import { defaultDataDir } from '../../shared/paths.js';
import { configFile, saveConfig } from '../config.js';

/** `drover up`: controller plus local host agent, in the foreground. */
export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('Run Drover on this machine in the foreground: controller, local host agent and its store (embedded SQLite unless --store)')
    .option('--data-dir <dir>', 'where the store, tokens, images and VM disks live', defaultDataDir())
    .option('--port <n>', 'controller port (0 = any free port)', '7700')
    .option('--listen <address>', 'address to listen on', '127.0.0.1')
    .option('--store <url>', 'the store: sqlite:PATH, or postgresql://USER@HOST[,HOST2]/DB for fleets (default: $DROVER_STORE, else SQLite in the data dir)')
    .action(async (opts: { dataDir: string; port: string; listen: string; store?: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DroverError('INVALID_ARGUMENT', `--port must be 0-65535, not "${opts.port}"`);
      // Loaded here, not at the top: every other CLI command would pay for the controller's start-up.
      const { up } = await import('../../controller/up.js');
      const running = await up({ dataDir: opts.dataDir, port, listen: opts.listen, store: opts.store ?? (process.env.DROVER_STORE || undefined) });
      saveConfig({ url: running.url, token: running.token });
      const lines = [
        'Drover is up.',
        `URL: ${running.url}`,
        `Token: ${running.token}`,
        `(the token is in ${opts.dataDir}/admin.token; the CLI config in ${configFile()})`,
        '',
        'Try:',
        '  ./bin/drover vm create web --image tiny --start --wait',
        '  ./bin/drover vm exec web -- uname -a',
        '  ./bin/drover vm snapshot create web clean',
        '',
        'Press Ctrl-C to stop Drover; running VMs keep running and are found again on the next start.',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.stdout.write('stopping Drover (VMs keep running)...\n');
          void running.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
