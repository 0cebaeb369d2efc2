import { Type } from '@fastify/type-provider-typebox';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from '../auth/hook.js';
import { FenceDeviceBody, FenceTestSchema, HostFenceSchema, fenceTestWire, hostFenceWire } from './fence-schema.js';
import { HostNameParams } from './schema.js';

/** /hosts/:name/fence: the device HA powers the host off with; set, shown (secrets redacted), tested, removed. */
export const fenceRoutes: DomainRoutes = async (app, { services }) => {
  const tags = ['hosts'];
  const { fencing } = services;

  app.get('/hosts/:name/fence', {
    schema: { operationId: 'getHostFence', summary: 'Show the host\'s fence device, secret options redacted', tags, params: HostNameParams, response: { 200: HostFenceSchema, ...errorResponses } },
    handler: async (request) => {
      const { host, device } = await fencing.show(request.params.name);
      return hostFenceWire(host, device);
    },
  });

  app.put('/hosts/:name/fence', {
    schema: {
      operationId: 'setHostFence',
      summary: 'Set the host\'s fence device (a ClusterLabs fence agent and its options), checked against the agent\'s metadata first',
      tags,
      params: HostNameParams,
      body: FenceDeviceBody,
      response: { 200: HostFenceSchema, ...errorResponses },
    },
    handler: async (request) => {
      const { host, device } = await fencing.set(request.params.name, request.body, actorOf(request));
      return hostFenceWire(host, device);
    },
  });

  app.delete('/hosts/:name/fence', {
    schema: { operationId: 'removeHostFence', summary: 'Remove the host\'s fence device; HA can then no longer fence it', tags, params: HostNameParams, response: { 204: Type.Null(), ...errorResponses } },
    handler: async (request, reply) => {
      await fencing.remove(request.params.name, actorOf(request));
      return reply.status(204).send(null);
    },
  });

  app.post('/hosts/:name/fence/test', {
    schema: {
      operationId: 'testHostFence',
      summary: 'Ask the fence device for the host\'s power state (status, else monitor) without changing it',
      tags,
      params: HostNameParams,
      response: { 200: FenceTestSchema, ...errorResponses },
    },
    handler: async (request) => {
      const { host, device, result } = await fencing.test(request.params.name, actorOf(request));
      return fenceTestWire(host, device, result);
    },
  });
};
