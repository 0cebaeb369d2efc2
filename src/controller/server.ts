import { promises as fs } from 'node:fs';
import { pino, type Logger } from 'pino';
import { buildControllerApp, type ControllerApp } from './api/app.js';
import { createControllerServices, type ControllerServices } from './api/services.js';
import { ensureAdminToken, type AdminToken } from './auth/admin-token.js';
import { defaultStoreUrl, openStore } from './store/open.js';
import { releaseStaleDestinations } from './vms/migrate.js';

export interface ControllerOptions {
  dataDir: string;
  /** Where the store is: `sqlite:PATH` or `postgresql://...`; default the SQLite file in dataDir. */
  store?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 7700 (the agent uses 7701); 0 picks a free port. */
  port?: number;
  logger?: Logger;
  /** Where the first-start admin token is announced; default stdout. */
  print?: (line: string) => void;
  /** How long a shutdown waits for running operations before cancelling them; default 10 s. */
  shutdownGraceMs?: number;
}

export interface RunningController {
  app: ControllerApp;
  services: ControllerServices;
  /** The URL it listens on. */
  address: string;
  adminToken: AdminToken;
  /** Stops accepting requests, lets operations finish or roll back, then closes the store. */
  close(): Promise<void>;
}

/** The controller's start-up order: store, interrupted operations, admin token, then the API. */
export async function startController(options: ControllerOptions): Promise<RunningController> {
  const logger = options.logger ?? pino({ name: 'drover-controller' });
  const print = options.print ?? ((line: string) => void process.stdout.write(`${line}\n`));
  await fs.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore(options.store ?? defaultStoreUrl(options.dataDir));
  try {
    const services = createControllerServices(store, { logger });
    // Before the API opens, so no new operation can be mistaken for an interrupted one.
    const interrupted = await services.operations.resolveInterrupted();
    if (interrupted.failed.length + interrupted.resumed.length > 0) logger.warn(interrupted, 'resolved operations interrupted by the last shutdown');
    // No migration survives a controller restart, so none holds a destination any more.
    const released = await releaseStaleDestinations(store);
    if (released.length > 0) logger.warn({ vms: released }, 'released the destinations of live migrations interrupted by the last shutdown');
    const adminToken = await ensureAdminToken(options.dataDir, services.tokens);
    if (adminToken.created) print(`Admin token (also written to ${adminToken.file}): ${adminToken.created}`);
    const app = await buildControllerApp({ services, logger });
    const address = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 7700 });
    return {
      app,
      services,
      address,
      adminToken,
      close: async () => {
        await app.close();
        await services.operations.shutdown(options.shutdownGraceMs ?? 10_000);
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
