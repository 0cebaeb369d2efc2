import { changedNothing } from '../api/audit.js';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from '../auth/hook.js';
import { HostNameParams, HostSchema, hostWire } from '../hosts/schema.js';
import { operationWire } from '../operations/schema.js';
import { balancePlan, BalanceScheduler, DEFAULT_THRESHOLD, startBalance } from './balance.js';
import { enterMaintenance, exitMaintenance } from './maintenance.js';
import { updateClusterSettings, readClusterSettings } from './settings.js';
import { BalanceBody, ClusterPolicyBody, ClusterPolicySchema, BalanceRunSchema, BalanceScheduleBody, BalanceScheduleSchema, balancePlanWire, EnterMaintenanceBody, evacuationPlanWire, MaintenanceEntrySchema } from './schema.js';

/** Maintenance mode (/hosts/:name/maintenance/...), balancing (/balance) and the cluster policy (/cluster/policy); the stored balance schedule is resumed as the app starts. */
export const clusterRoutes: DomainRoutes = async (app, { services }) => {
  const { store, events, operations, hosts } = services;
  const deps = { store, events, operations, hosts };
  const scheduler = new BalanceScheduler(deps, app.log, services.leadership);
  await scheduler.resume();
  app.addHook('onClose', async () => scheduler.stop());

  app.post('/hosts/:name/maintenance/enter', {
    schema: {
      operationId: 'enterHostMaintenance',
      summary: 'Put a host in maintenance and live-migrate its VMs away (200 with the plan on a dry run, else 202: follow the operation)',
      tags: ['hosts'],
      params: HostNameParams,
      body: EnterMaintenanceBody,
      response: { 200: MaintenanceEntrySchema, 202: MaintenanceEntrySchema, ...errorResponses },
    },
    handler: async (request, reply) => {
      if (request.body?.dryRun) changedNothing(request);
      const { plan, operation } = await enterMaintenance(deps, request.params.name, request.body ?? {}, actorOf(request));
      return reply.status(operation ? 202 : 200).send({ plan: evacuationPlanWire(plan), operation: operation ? operationWire(operation) : null });
    },
  });

  app.post('/hosts/:name/maintenance/exit', {
    schema: { operationId: 'exitHostMaintenance', summary: 'Return a host in maintenance to ready', tags: ['hosts'], params: HostNameParams, response: { 200: HostSchema, ...errorResponses } },
    handler: async (request) => {
      const host = await exitMaintenance(deps, request.params.name, actorOf(request));
      const vmCount = (await store.vms.listByHost(host.id)).length;
      return hostWire(host, vmCount, hosts.unmanagedOn(host.id), hosts.lastHostInfo(host.id));
    },
  });

  app.post('/balance', {
    schema: {
      operationId: 'balanceCluster',
      summary: 'Even out host load by live migration (200 with the plan on a dry run, else 202: follow the operation)',
      tags: ['balance'],
      body: BalanceBody,
      response: { 200: BalanceRunSchema, 202: BalanceRunSchema, ...errorResponses },
    },
    handler: async (request, reply) => {
      const threshold = request.body?.threshold ?? DEFAULT_THRESHOLD;
      if (request.body?.dryRun) {
        changedNothing(request);
        return reply.status(200).send({ plan: balancePlanWire(await balancePlan(deps, threshold)), operation: null });
      }
      const { plan, operation } = await startBalance(deps, threshold, actorOf(request));
      return reply.status(202).send({ plan: balancePlanWire(plan), operation: operationWire(operation) });
    },
  });

  app.get('/cluster/policy', {
    schema: { operationId: 'getClusterPolicy', summary: 'The cluster\'s scheduling policy: weight (spread or pack) and baseline CPU model', tags: ['cluster'], response: { 200: ClusterPolicySchema, ...errorResponses } },
    handler: async () => readClusterSettings(store),
  });

  app.put('/cluster/policy', {
    schema: { operationId: 'setClusterPolicy', summary: 'Change the cluster\'s weight or baseline CPU model (applies to placements and VMs started from now on)', tags: ['cluster'], body: ClusterPolicyBody, response: { 200: ClusterPolicySchema, ...errorResponses } },
    handler: async (request) => updateClusterSettings({ store, events }, request.body, actorOf(request)),
  });

  app.get('/balance/schedule', {
    schema: { operationId: 'getBalanceSchedule', summary: 'When the balancer runs by itself', tags: ['balance'], response: { 200: BalanceScheduleSchema, ...errorResponses } },
    handler: async () => scheduler.get(),
  });

  app.put('/balance/schedule', {
    schema: { operationId: 'setBalanceSchedule', summary: 'Enable, disable or retime the periodic balancer (stored: it survives a controller restart)', tags: ['balance'], body: BalanceScheduleBody, response: { 200: BalanceScheduleSchema, ...errorResponses } },
    handler: async (request) => scheduler.set(request.body, actorOf(request)),
  });
};
