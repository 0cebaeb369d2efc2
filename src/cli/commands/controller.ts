import type { Command } from 'commander';
import { DroverError } from '../../shared/errors.js';
import { defaultDataDir } from '../../shared/paths.js';
import { integerIn } from '../parse.js';

interface ControllerCommandOptions {
  store?: string;
  dataDir: string;
  listen: string;
  port: string;
  name?: string;
  leaseMs?: number;
}

/** `drover controller`: one controller of a cluster, without a local agent; several may share one PostgreSQL store. */
export function registerControllerCommand(program: Command): void {
  program
    .command('controller')
    .description('Run a controller in the foreground, without a host agent. Several controllers on one PostgreSQL store serve the same cluster; the leader among them runs heartbeats, HA and balancing')
    .option('--store <url>', 'the store: postgresql://USER@HOST[:PORT][,HOST2[:PORT]]/DB[?target_session_attrs=read-write], or sqlite:PATH (default: $DROVER_STORE, else SQLite in the data dir)')
    .option('--data-dir <dir>', 'where this controller keeps its id and, on first start, the admin token', defaultDataDir())
    .option('--listen <address>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 = any free port)', '7700')
    .option('--name <name>', 'the name `drover cluster controllers` shows (default: host name and port)')
    .option('--lease-ms <ms>', 'how long the leader lease lasts unless renewed (renewed every quarter of it, at most every 2 s); another controller takes over once it lapses', integerIn(1000, 600_000), 8_000)
    .action(async (opts: ControllerCommandOptions) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DroverError('INVALID_ARGUMENT', `--port must be 0-65535, not "${opts.port}"`);
      const { pino } = await import('pino');
      // Loaded here, not at the top: every other CLI command would pay for the controller's start-up.
      const { startController } = await import('../../controller/server.js');
      const store = opts.store ?? (process.env.DROVER_STORE || undefined);
      const controller = await startController({
        dataDir: opts.dataDir,
        ...(store ? { store } : {}),
        host: opts.listen,
        port,
        ...(opts.name ? { name: opts.name } : {}),
        leadership: { leaseMs: opts.leaseMs ?? 8_000, renewMs: Math.min(2_000, Math.round((opts.leaseMs ?? 8_000) / 4)) },
        logger: pino({ name: 'drover-controller', level: process.env.DROVER_LOG_LEVEL ?? 'warn' }),
      });
      const role = controller.leadership.isLeader() ? 'the leader' : 'standing by (another controller leads)';
      process.stdout.write(`Drover controller listening on ${controller.address} (store: ${controller.services.store.engine}); ${role}.\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.stdout.write('stopping the controller (the lease passes to another one)...\n');
          void controller.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
