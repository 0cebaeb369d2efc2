import { Type } from '@fastify/type-provider-typebox';
import { errorResponses } from '../api/schemas.js';
import { actorOf } from '../auth/hook.js';
import type { DomainRoutes } from '../api/services.js';
import { fenceRoutes } from './fence-routes.js';
import { joinRoutes } from './join-routes.js';
import { HostListSchema, HostNameParams, HostSchema, hostWire } from './schema.js';

/** /hosts: every host with its health, accelerator, capacity and usage; joining agents (join-routes.ts); fence devices (fence-routes.ts). */
export const hostRoutes: DomainRoutes = async (app, { services, settings }) => {
  const tags = ['hosts'];
  const { hosts, store } = services;
  const counts = async (): Promise<Map<string, number>> => {
    const map = new Map<string, number>();
    for (const vm of await store.vms.list()) if (vm.hostId) map.set(vm.hostId, (map.get(vm.hostId) ?? 0) + 1);
    return map;
  };

  app.get('/hosts', {
    schema: { operationId: 'listHosts', summary: 'List hosts', tags, response: { 200: HostListSchema, ...errorResponses } },
    handler: async () => {
      const vmCounts = await counts();
      return { hosts: (await hosts.list()).map((h) => hostWire(h, vmCounts.get(h.id) ?? 0, hosts.unmanagedOn(h.id), hosts.lastHostInfo(h.id))) };
    },
  });

  app.get('/hosts/:name', {
    schema: { operationId: 'getHost', summary: 'Show one host', tags, params: HostNameParams, response: { 200: HostSchema, ...errorResponses } },
    handler: async (request) => {
      const host = await hosts.get(request.params.name);
      return hostWire(host, (await counts()).get(host.id) ?? 0, hosts.unmanagedOn(host.id), hosts.lastHostInfo(host.id));
    },
  });

  app.delete('/hosts/:name', {
    schema: { operationId: 'removeHost', summary: 'Forget a host that has no VMs (its agent keeps running until stopped)', tags, params: HostNameParams, response: { 204: Type.Null(), ...errorResponses } },
    handler: async (request, reply) => {
      await hosts.remove(request.params.name, actorOf(request));
      return reply.status(204).send(null);
    },
  });

  await app.register(joinRoutes, { services, settings });
  await app.register(fenceRoutes, { services, settings });
};
