import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { version } from '../shared/version.js';
import { SYSTEM_ACTOR } from './actor.js';
import { buildControllerApp, type ControllerApp } from './api/app.js';
import { createControllerServices, type ControllerServices } from './api/services.js';
import { ensureAdminToken, type AdminToken } from './auth/admin-token.js';
import { fencedStore } from './leadership/fenced-store.js';
import { DEFAULT_LEADERSHIP_TIMINGS, Leadership, type LeadershipTimings } from './leadership/leadership.js';
import { defaultStoreUrl, openStore } from './store/open.js';
import { followInterruptedMigration, releaseStaleDestinations } from './vms/migrate.js';

export interface ControllerOptions {
  dataDir: string;
  /** Where the store is: `sqlite:PATH` or `postgresql://...`; default the SQLite file in dataDir. */
  store?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 7700 (the agent uses 7701); 0 picks a free port. */
  port?: number;
  /** The name `cluster controllers` shows; default this machine's host name and the port. */
  name?: string;
  logger?: Logger;
  /** Where the first-start admin token is announced; default stdout. */
  print?: (line: string) => void;
  /** How long a shutdown waits for running operations before cancelling them; default 10 s. */
  shutdownGraceMs?: number;
  /** How often the leader polls every host; default 2 s; 0: never (benchmarks with simulated hosts). */
  heartbeatMs?: number;
  /** How often the leader's HA takes a step; default 500 ms; 0: HA is not started. */
  haStepMs?: number;
  /** The leader lease's timings. */
  leadership?: Partial<LeadershipTimings>;
}

export interface RunningController {
  app: ControllerApp;
  services: ControllerServices;
  /** The URL it listens on. */
  address: string;
  adminToken: AdminToken;
  leadership: Leadership;
  /** Stops accepting requests, gives up the leader lease, lets operations finish or roll back, then closes the store. */
  close(): Promise<void>;
}

/** This controller's id, kept in its data directory so that a restart is recognised as the same controller. */
async function controllerId(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'controller.id');
  try {
    const id = (await fs.readFile(file, 'utf8')).trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  await fs.writeFile(file, `${id}\n`, { mode: 0o600 });
  return id;
}

/**
 * The controller's start-up order: store, this controller's own interrupted operations, admin
 * token, the API, then the leader election. Any number of controllers may share one store; the one
 * holding the leader lease runs the background work (host heartbeats, HA, recovering what dead
 * controllers left), each write of it checked against the lease's fencing token.
 */
export async function startController(options: ControllerOptions): Promise<RunningController> {
  const logger = options.logger ?? pino({ name: 'drover-controller' });
  const print = options.print ?? ((line: string) => void process.stdout.write(`${line}\n`));
  await fs.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const id = await controllerId(options.dataDir);
  const raw = await openStore(options.store ?? defaultStoreUrl(options.dataDir));
  let leadership: Leadership | undefined;
  try {
    const store = fencedStore(raw);
    const timings: LeadershipTimings = { ...DEFAULT_LEADERSHIP_TIMINGS, ...options.leadership };
    const view = { timings, isLeader: () => leadership?.isLeader() ?? false, holdsTerm: () => leadership?.holdsTerm() ?? false, asLeader: <T>(fn: () => Promise<T>) => leadership?.asLeader(fn) ?? Promise.resolve(undefined) };
    const services = createControllerServices(store, { logger, controllerId: id, leadership: view });
    // Before the API opens, so no new operation can be mistaken for an interrupted one. Operations
    // of other controllers are theirs, or the leader's once they are dead.
    const interrupted = await services.operations.resolveInterrupted((owner) => owner === id);
    if (interrupted.failed.length + interrupted.resumed.length > 0) logger.warn(interrupted, 'resolved operations interrupted by the last shutdown');
    const released = await releaseStaleDestinations(store, { ownedBy: (owner) => owner === id || owner === null });
    if (released.length > 0) logger.warn({ vms: released }, 'released the destinations of live migrations interrupted by the last shutdown');
    const adminToken = await ensureAdminToken(options.dataDir, services.tokens);
    if (adminToken.created) print(`Admin token (also written to ${adminToken.file}): ${adminToken.created}`);
    const app = await buildControllerApp({ services, logger });
    const address = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 7700 });
    let recovery: NodeJS.Timeout | undefined;
    const elected = new Leadership({
      store: raw,
      events: services.events,
      self: { id, name: options.name ?? `${os.hostname()}:${new URL(address).port}`, url: address, version },
      timings,
      logger,
      work: {
        start: async () => {
          await recoverDeadControllers(services, elected, logger, true);
          if (options.heartbeatMs !== 0) services.hosts.startHeartbeats(options.heartbeatMs ?? 2_000);
          if (options.haStepMs !== 0) services.ha.start(options.haStepMs);
          recovery = setInterval(() => void recoverDeadControllers(services, elected, logger, false), elected.timings.leaseMs);
          recovery.unref();
        },
        stop: async () => {
          if (recovery) clearInterval(recovery);
          services.hosts.stopHeartbeats();
          await services.ha.stop();
        },
      },
    });
    leadership = elected;
    await elected.start();
    return {
      app,
      services,
      address,
      adminToken,
      leadership: elected,
      close: async () => {
        await app.close();
        await elected.stop();
        await services.operations.shutdown(options.shutdownGraceMs ?? 10_000);
        await raw.close();
      },
    };
  } catch (err) {
    await leadership?.stop(false);
    await raw.close();
    throw err;
  }
}

/**
 * The leader's recovery: operations whose controller is dead (no refresh for a lease and a
 * renewal) are resumed or failed, as a restarted controller does with its own; then the
 * destinations and half-made VMs they left are settled: a live migration the source agent carried
 * on is followed to its end and recorded where the guest went, other destinations are released.
 * On election it also takes operations that have no owner (from before several controllers).
 */
async function recoverDeadControllers(services: ControllerServices, leadership: Leadership, logger: Logger, elected: boolean): Promise<void> {
  try {
    const cutoff = Date.now() - leadership.timings.leaseMs - leadership.timings.renewMs;
    const dead = new Set((await services.store.controllers.list()).filter((c) => c.id !== leadership.controllerId && Date.parse(c.lastSeenAt) < cutoff).map((c) => c.id));
    const gone = (owner: string | null): boolean => (owner === null ? elected : dead.has(owner));
    const resolved = await services.operations.resolveInterrupted(gone);
    if (resolved.failed.length + resolved.resumed.length === 0) return;
    logger.warn({ ...resolved, controllers: [...dead] }, 'resolved operations of controllers that are gone');
    const followed = new Set<string>();
    for (const id of resolved.failed) {
      const operation = await services.operations.get(id);
      if (await followInterruptedMigration(services, operation)) followed.add(operation.targetId);
    }
    if (followed.size > 0) logger.warn({ vms: [...followed] }, 'following live migrations a gone controller left to their end');
    const released = await releaseStaleDestinations(services.store, { ownedBy: gone, keep: followed });
    if (released.length > 0) logger.warn({ vms: released }, 'released the destinations of live migrations whose controller is gone');
    const settled = await services.vms.resolveInterrupted(SYSTEM_ACTOR);
    if (settled.length > 0) logger.warn({ settled }, 'settled VMs a controller left mid-operation');
  } catch (err) {
    logger.error({ err }, 'recovering after a dead controller failed; the next round tries again');
  }
}
