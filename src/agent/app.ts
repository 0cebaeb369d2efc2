import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { DroverError } from '../shared/errors.js';
import { requireBearer, sameSecret } from '../shared/http.js';
import { installErrorHandling } from '../shared/http-errors.js';
import { QemuDriver } from '../drivers/qemu/driver.js';
import { ContainerDriver } from '../drivers/container/driver.js';
import { GuestDrivers } from '../drivers/registry.js';
import type { AcceleratorProbe } from '../drivers/qemu/accel.js';
import { ImageLibrary } from '../images/library.js';
import { imageRoutes } from '../images/routes.js';
import { VmRecords } from '../vms/records.js';
import { HostVmService } from '../vms/host-vms.js';
import { vmRoutes } from '../vms/routes.js';
import { hostRoutes, hostView } from './host-routes.js';
import { collectVmStats } from '../vms/stats.js';
import { MigrationService } from '../migration/service.js';
import { migrationRoutes } from '../migration/routes.js';
import { ColdMoves } from '../migration/cold.js';
import { overlayRoutes } from '../network/routes.js';
import { HostHaGuard } from './ha/guard.js';
import { haRoutes } from './ha/routes.js';
import { createWatchdog, type Watchdog, type WatchdogSpec } from './watchdog.js';

export interface AgentOptions {
  dataDir: string;
  /** Runtime directory for sockets; kept short for unix socket paths. Default `<dataDir>/run`. */
  runDir?: string;
  accelerator: AcceleratorProbe;
  logger?: boolean;
  /** A directory every host reaches at the same path: VMs created with pool 'shared' keep their disks there. */
  sharedStorageDir?: string;
  /** The host's watchdog (`--watchdog`); default none. */
  watchdog?: WatchdogSpec;
}

/** Where the agent renews its HA lease, and as which host. */
export interface HaLeaseTarget {
  /** The controller's URL, or several separated by commas, tried in order (`--controller`). */
  controllerUrl: string;
  hostName: string;
}

export interface Agent {
  app: FastifyInstance;
  /** The QEMU driver (live migration speaks QEMU's protocol). */
  driver: QemuDriver;
  /** Every driver this host runs guests with, one per guest type. */
  drivers: GuestDrivers;
  vms: HostVmService;
  images: ImageLibrary;
  migrations: MigrationService;
  token: string;
  accelerator: AcceleratorProbe;
  /** The host's watchdog, not armed yet: HA arms and feeds it; a clean close disarms it. */
  watchdog: Watchdog;
  /** Starts renewing the HA lease with the controller, writing the storage heartbeat and guarding starts (once joined). */
  startHa(target: HaLeaseTarget): Promise<void>;
}

/** Reads `<dataDir>/agent.token`, creating it (mode 0600) on first start. */
export function ensureAgentToken(dataDir: string): string {
  const file = path.join(dataDir, 'agent.token');
  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (existing) return existing;
  } catch {
    // First start.
  }
  const token = `drva_${crypto.randomBytes(24).toString('base64url')}`;
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Builds the host agent: QEMU driver, VM and image services, and its authenticated HTTP API. */
export async function buildAgent(opts: AgentOptions): Promise<Agent> {
  // First: a watchdog device that is missing should stop the agent before it adopts any VM.
  const watchdog = createWatchdog(opts.watchdog ?? { kind: 'none' });
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const token = ensureAgentToken(opts.dataDir);
  const driver = new QemuDriver({ runDir: opts.runDir ?? path.join(opts.dataDir, 'run'), accelerator: opts.accelerator.accelerator });
  const drivers = new GuestDrivers([driver, new ContainerDriver({ runDir: path.join(opts.dataDir, 'containers') })]);
  const images = new ImageLibrary(path.join(opts.dataDir, 'images'));
  const records = new VmRecords(path.join(opts.dataDir, 'vms'));
  const sharedStorageDir = opts.sharedStorageDir ? path.resolve(opts.sharedStorageDir) : undefined;
  const vms = new HostVmService(records, images, drivers, path.join(opts.dataDir, 'bases'), sharedStorageDir);
  const migrations = new MigrationService({ records, vms, driver, images, ...(sharedStorageDir ? { sharedStorageDir } : {}) });
  for (const d of drivers.all()) await d.recover();
  await migrations.recover();
  let guard: HostHaGuard | undefined;

  const app = Fastify({ logger: opts.logger ? { level: 'info' } : false, bodyLimit: 4 * 1024 * 1024 });
  // Strict bodies (unknown fields are refused, never stripped); query strings are converted to their types.
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  installErrorHandling(app);
  requireBearer(app, (t) => sameSecret(t, token));
  await app.register(websocket);
  app.get('/healthz', async () => ({ ok: true }));
  const hostContext = { accelerator: opts.accelerator, hostname: os.hostname(), vms, ...(sharedStorageDir ? { sharedStorageDir } : {}) };
  await app.register(hostRoutes(hostContext));
  // An image is in use while any VM disk is backed by its file.
  await app.register(imageRoutes(images, (name) => records.list().some((r) => r.image === name)));
  await app.register(
    vmRoutes(vms),
  );
  await app.register(migrationRoutes(migrations, new ColdMoves(records, vms)));
  await app.register(overlayRoutes());
  await app.register(
    haRoutes({
      guard: () => {
        if (!guard) throw new DroverError('HA_NO_LEASE');
        return guard;
      },
      vms,
      records,
      images,
      drivers,
      ...(sharedStorageDir ? { sharedStorageDir } : {}),
    }),
  );
  app.get('/api/v1/vm-stats', async () => collectVmStats(records, drivers));
  app.addHook('onClose', async () => {
    guard?.stop();
    migrations.close();
    for (const d of drivers.all()) void d.detach();
    // Only a clean close disarms: an agent that crashes or is killed leaves it armed, and the host is reset.
    try {
      watchdog.disarm();
    } catch (err) {
      app.log.error({ err }, 'disarming the watchdog failed; the host may be reset');
    }
  });
  const startHa = async (target: HaLeaseTarget): Promise<void> => {
    if (guard) return;
    guard = new HostHaGuard({
      hostName: target.hostName,
      controllerUrl: target.controllerUrl,
      agentToken: token,
      dataDir: opts.dataDir,
      ...(sharedStorageDir ? { sharedStorageDir } : {}),
      records,
      drivers,
      watchdog,
      ...(opts.logger ? { logger: app.log as unknown as Logger } : {}),
      reporter: { vms: () => vms.list(), host: () => hostView(hostContext), stats: () => collectVmStats(records, drivers) },
    });
    vms.gate = guard;
    await guard.start();
  };
  return { app, driver, drivers, vms, images, migrations, token, accelerator: opts.accelerator, watchdog, startHa };
}
