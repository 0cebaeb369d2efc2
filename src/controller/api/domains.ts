/**
 * The explicit registry of the API's domains. A new domain (hosts, VMs, images...) adds its
 * route plugin here; each is registered under /api/v1 in this order.
 */
import { tokenRoutes } from '../auth/routes.js';
import { eventRoutes } from '../events/routes.js';
import { operationRoutes } from '../operations/routes.js';
import type { DomainRoutes } from './services.js';
import { hostRoutes } from '../hosts/routes.js';
import { imageRoutes } from '../images/routes.js';
import { vmRoutes } from '../vms/routes.js';
import { vmMetricsRoutes } from '../metrics/history-routes.js';
import { clusterRoutes } from '../cluster/routes.js';
import { controllerRoutes } from '../cluster/controllers.js';
import { networkRoutes } from '../networks/routes.js';
import { haRoutes } from '../ha/routes.js';

export const API_PREFIX = '/api/v1';

export const DOMAINS: readonly { name: string; routes: DomainRoutes }[] = [
  { name: 'tokens', routes: tokenRoutes },
  { name: 'operations', routes: operationRoutes },
  { name: 'events', routes: eventRoutes },
  { name: 'hosts', routes: hostRoutes },
  { name: 'images', routes: imageRoutes },
  { name: 'vms', routes: vmRoutes },
  { name: 'vm-metrics', routes: vmMetricsRoutes },
  { name: 'cluster', routes: clusterRoutes },
  { name: 'controllers', routes: controllerRoutes },
  { name: 'networks', routes: networkRoutes },
  { name: 'ha', routes: haRoutes },
];
