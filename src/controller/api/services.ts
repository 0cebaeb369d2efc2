import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { TokenService } from '../auth/tokens.js';
import { EventLog } from '../events/event-log.js';
import { OperationRunner } from '../operations/runner.js';
import type { Store } from '../store/store.js';
import { FenceService, type FenceServiceOptions } from '../hosts/fence.js';
import { HostService } from '../hosts/service.js';
import { VmService } from '../vms/service.js';
import { FleetMirror } from '../cluster/fleet.js';
import { HaService } from '../ha/service.js';
import { SOLE_LEADER, type LeadershipView } from '../leadership/term.js';

/** The controller's services, built once and handed to every domain's routes. */
export interface ControllerServices {
  store: Store;
  events: EventLog;
  operations: OperationRunner;
  tokens: TokenService;
  hosts: HostService;
  /** Hosts' fence devices; HA powers failed hosts off through it. */
  fencing: FenceService;
  vms: VmService;
  ha: HaService;
  /** Whether this controller is the leader, which alone runs the background work. */
  leadership: LeadershipView;
}

/** Builds the services over `store`. */
export interface ControllerServiceOptions {
  logger?: Logger;
  fencing?: FenceServiceOptions;
  /** This controller's id, recorded as the owner of the operations it runs. */
  controllerId?: string;
  /** Whether this controller leads; default: always (a controller alone, as in-process tests have it). */
  leadership?: LeadershipView;
}

export function createControllerServices(store: Store, options: ControllerServiceOptions = {}): ControllerServices {
  const events = new EventLog(store);
  const operations = new OperationRunner({ store, events, ...(options.logger ? { logger: options.logger } : {}), ...(options.controllerId ? { controllerId: options.controllerId } : {}) });
  const hosts = new HostService(store, events, options.logger);
  const fencing = new FenceService(store, events, options.fencing);
  // One copy of the fleet for all that reads every host and VM often: HA's steps and placement.
  const fleet = new FleetMirror(store);
  const ha = new HaService(store, events, hosts, fencing, fleet, undefined, options.logger);
  hosts.skipVm = (vmId) => ha.isRestarting(vmId);
  return {
    store,
    events,
    operations,
    tokens: new TokenService(store, events),
    hosts,
    fencing,
    vms: new VmService(store, events, operations, hosts, fleet, ha),
    ha,
    leadership: options.leadership ?? SOLE_LEADER,
  };
}

/** Settings the API layer itself needs. */
export interface ApiSettings {
  /** How often an idle event stream gets a heartbeat. */
  eventStreamHeartbeatMs: number;
  /** The public URLs of every controller serving this cluster, this one included; empty: just this one. */
  controllerUrls: readonly string[];
}

/** What a domain's route plugin receives. */
export interface DomainOptions {
  services: ControllerServices;
  settings: ApiSettings;
}

/** A domain's routes: a Fastify plugin registered under /api/v1 (see api/domains.ts). */
export type DomainRoutes = FastifyPluginAsyncTypebox<DomainOptions>;
