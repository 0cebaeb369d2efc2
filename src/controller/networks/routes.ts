import { Type } from '@fastify/type-provider-typebox';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from '../auth/hook.js';
import { removeOverlayEverywhere } from './attach.js';
import { CreateNetworkBody, NetworkListSchema, NetworkNameParams, NetworkSchema, networkWire } from './schema.js';
import { NetworkService } from './service.js';

/** /networks: virtual networks that span hosts (Linux bridge + VXLAN on each host that has a VM on one). */
export const networkRoutes: DomainRoutes = async (app, { services }) => {
  const tags = ['networks'];
  const { store, events, hosts } = services;
  const networks = new NetworkService(store, events);
  const context = async () => ({ vms: await store.vms.list(), hostNames: new Map((await store.hosts.list()).map((h) => [h.id, h.name])) });

  app.get('/networks', {
    schema: { operationId: 'listNetworks', summary: 'List virtual networks', tags, response: { 200: NetworkListSchema, ...errorResponses } },
    handler: async () => {
      const { vms, hostNames } = await context();
      return { networks: (await networks.list()).map((n) => networkWire(n, vms, hostNames)) };
    },
  });

  app.get('/networks/:name', {
    schema: { operationId: 'getNetwork', summary: 'Show one virtual network with the VM NICs on it', tags, params: NetworkNameParams, response: { 200: NetworkSchema, ...errorResponses } },
    handler: async (request) => {
      const network = await networks.get(request.params.name);
      const { vms, hostNames } = await context();
      return networkWire(network, vms, hostNames);
    },
  });

  app.post('/networks', {
    schema: { operationId: 'createNetwork', summary: 'Define a virtual network (VNI assigned when omitted)', tags, body: CreateNetworkBody, response: { 201: NetworkSchema, ...errorResponses } },
    handler: async (request, reply) => {
      const network = await networks.create(request.body, actorOf(request));
      const { vms, hostNames } = await context();
      return reply.status(201).send(networkWire(network, vms, hostNames));
    },
  });

  app.delete('/networks/:name', {
    schema: { operationId: 'deleteNetwork', summary: 'Delete a virtual network no VM uses; hosts drop its bridge and VXLAN device', tags, params: NetworkNameParams, response: { 204: Type.Null(), ...errorResponses } },
    handler: async (request, reply) => {
      const network = await networks.delete(request.params.name, actorOf(request));
      await removeOverlayEverywhere(store, hosts, network.vni);
      return reply.status(204).send(null);
    },
  });
};
