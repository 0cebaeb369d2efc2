import { changedNothing } from '../api/audit.js';
import { Type } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import WebSocket from 'ws';
import { DroverError } from '../../shared/errors.js';
import { errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from '../auth/hook.js';
import { operationWire } from '../operations/schema.js';
import type { AgentClient } from '../hosts/agent-client.js';
import type { OperationRecord, VmRecord } from '../store/records.js';
import {
  CloneBody,
  CreateSnapshotBody,
  CreateVmBody,
  DeleteQuery,
  ExecBody,
  ExecResultSchema,
  MigrateVmBody,
  MigrationTargetListSchema,
  MigrationTargetsQuery,
  PlacementHistorySchema,
  PlacementSchema,
  SnapshotListSchema,
  SnapshotOperationSchema,
  SnapshotParams,
  StopQuery,
  UpdateVmBody,
  UpdateVmLimitsBody,
  UpdateVmNicBody,
  VmListQuery,
  VmListSchema,
  VmNameParams,
  VmNicParams,
  VmOperationSchema,
  VmSchema,
  WaitReadyBody,
  WhereQuery,
} from './schema.js';
import { judgeTargets } from './targets.js';
import { migrationTargetsWire, placementWire, vmWire } from './wire.js';

const ACTIONS = ['start', 'kill', 'reboot', 'pause', 'resume'] as const;

/** /vms: define, run, snapshot, clone, exec into and delete VMs; long actions answer 202 with an operation. */
export const vmRoutes: DomainRoutes = async (app, { services }) => {
  const tags = ['vms'];
  const vms = services.vms;
  // Only the hosts these VMs name, by id: showing one VM or a page never reads every host record.
  const hostNamesOf = (list: VmRecord[]): Promise<Map<string, string>> =>
    services.store.hosts.namesOf(list.flatMap((vm) => [vm.hostId, vm.movingTo].filter((id): id is string => id !== null)));
  const oneVm = async (vm: VmRecord) => vmWire(vm, await hostNamesOf([vm]));
  const accepted = async (reply: FastifyReply, result: { operation: OperationRecord; vm: VmRecord }) =>
    reply.status(202).send({ operation: operationWire(result.operation), vm: await oneVm(result.vm) });

  app.get('/vms', {
    schema: {
      operationId: 'listVms',
      summary: 'List VMs with their host and state: all of them (oldest first), or a page by name with `limit` and `after`, filtered by host, state and type',
      tags,
      querystring: VmListQuery,
      response: { 200: VmListSchema, ...errorResponses },
    },
    handler: async (request) => {
      const query = request.query;
      // Without any parameter, the answer stays what it was before pages existed: every VM, oldest first.
      const found = Object.keys(query).length === 0 ? { vms: await vms.list(), next: null } : await vms.page(query);
      const names = await hostNamesOf(found.vms);
      return { vms: found.vms.map((vm) => vmWire(vm, names)), next: found.next };
    },
  });

  app.post('/vms', {
    schema: { operationId: 'createVm', summary: 'Create a VM from an image (202: follow the operation)', tags, body: CreateVmBody, response: { 202: VmOperationSchema, ...errorResponses } },
    handler: async (request, reply) => accepted(reply, await vms.create(request.body, actorOf(request))),
  });

  app.get('/vms/:name', {
    schema: { operationId: 'getVm', summary: 'Show one VM', tags, params: VmNameParams, response: { 200: VmSchema, ...errorResponses } },
    handler: async (request) => oneVm(await vms.get(request.params.name)),
  });

  app.patch('/vms/:name', {
    schema: { operationId: 'updateVm', summary: 'Change a VM\'s settings: its HA protection and policy', tags, params: VmNameParams, body: UpdateVmBody, response: { 200: VmSchema, ...errorResponses } },
    handler: async (request) => oneVm(await vms.update(request.params.name, request.body, actorOf(request))),
  });

  for (const action of ACTIONS) {
    app.post(`/vms/:name/${action}`, {
      schema: { operationId: `${action}Vm`, summary: `${action[0]?.toUpperCase()}${action.slice(1)} a VM`, tags, params: VmNameParams, response: { 202: VmOperationSchema, ...errorResponses } },
      handler: async (request, reply) => accepted(reply, await vms.act(request.params.name, action, actorOf(request))),
    });
  }

  app.post('/vms/:name/stop', {
    schema: { operationId: 'stopVm', summary: 'Shut a VM down through ACPI, forcing it after the timeout', tags, params: VmNameParams, querystring: StopQuery, response: { 202: VmOperationSchema, ...errorResponses } },
    handler: async (request, reply) => accepted(reply, await vms.stop(request.params.name, request.query.timeoutMs ?? 60_000, actorOf(request))),
  });

  app.patch('/vms/:name/limits', {
    schema: {
      operationId: 'updateVmLimits',
      summary: 'Change a VM\'s CPU cap, memory or (containers) process limit, live where its driver can (202: follow the operation)',
      tags,
      params: VmNameParams,
      body: UpdateVmLimitsBody,
      response: { 202: VmOperationSchema, ...errorResponses },
    },
    handler: async (request, reply) => accepted(reply, await vms.setLimits(request.params.name, request.body, actorOf(request))),
  });

  app.patch('/vms/:name/nics/:nic', {
    schema: {
      operationId: 'updateVmNic',
      summary: 'Change a NIC\'s rate limit, live if the VM runs (202: follow the operation)',
      tags,
      params: VmNicParams,
      body: UpdateVmNicBody,
      response: { 202: VmOperationSchema, ...errorResponses },
    },
    handler: async (request, reply) =>
      accepted(reply, await vms.setNicRateLimit(request.params.name, request.params.nic, request.body.rateLimitMbit, actorOf(request))),
  });

  app.post('/vms/:name/wait-ready', {
    schema: { operationId: 'waitVmReady', summary: 'Wait until the guest agent answers', tags, params: VmNameParams, body: Type.Optional(WaitReadyBody), response: { 200: VmSchema, ...errorResponses } },
    handler: async (request) => {
      changedNothing(request);
      return oneVm(await vms.waitReady(request.params.name, request.body?.timeoutMs ?? 120_000));
    },
  });

  app.delete('/vms/:name', {
    schema: { operationId: 'deleteVm', summary: 'Delete a VM and its disks (force kills a running one)', tags, params: VmNameParams, querystring: DeleteQuery, response: { 202: VmOperationSchema, ...errorResponses } },
    handler: async (request, reply) => accepted(reply, await vms.delete(request.params.name, request.query.force ?? false, actorOf(request))),
  });

  app.post('/vms/:name/exec', {
    schema: { operationId: 'execInVm', summary: 'Run a command in the guest through its agent', tags, params: VmNameParams, body: ExecBody, response: { 200: ExecResultSchema, ...errorResponses } },
    handler: async (request) => vms.exec(request.params.name, request.body, actorOf(request)),
  });

  app.post('/vms/:name/clone', {
    schema: { operationId: 'cloneVm', summary: 'Clone a stopped VM (linked or full)', tags, params: VmNameParams, body: CloneBody, response: { 202: VmOperationSchema, ...errorResponses } },
    handler: async (request, reply) => accepted(reply, await vms.clone(request.params.name, request.body.name, request.body.mode ?? 'full', actorOf(request))),
  });

  app.post('/vms/:name/migrate', {
    schema: { operationId: 'migrateVm', summary: 'Live-migrate a running VM to another host, the named one or the scheduler\'s pick (202: follow the operation)', tags, params: VmNameParams, body: MigrateVmBody, response: { 202: VmOperationSchema, ...errorResponses } },
    handler: async (request, reply) => accepted(reply, await vms.migrate(request.params.name, request.body, actorOf(request))),
  });

  app.get('/vms/:name/migration-targets', {
    schema: {
      operationId: 'getVmMigrationTargets',
      summary: 'Every other host judged by the placement filters as a live-migration destination for this VM, with the scheduler\'s pick',
      tags,
      params: VmNameParams,
      querystring: MigrationTargetsQuery,
      response: { 200: MigrationTargetListSchema, ...errorResponses },
    },
    handler: async (request) => ({ items: migrationTargetsWire(await judgeTargets(services.store, await vms.get(request.params.name), request.query.storage)) }),
  });

  app.get('/vms/:name/history', {
    schema: { operationId: 'getVmHistory', summary: 'The hosts a VM has been on, newest first', tags, params: VmNameParams, response: { 200: PlacementHistorySchema, ...errorResponses } },
    handler: async (request) => ({ placements: (await vms.history(request.params.name)).map(placementWire) }),
  });

  app.get('/vms/:name/where', {
    schema: { operationId: 'getVmPlacementAt', summary: 'The host a VM was on at a time (default now)', tags, params: VmNameParams, querystring: WhereQuery, response: { 200: PlacementSchema, ...errorResponses } },
    handler: async (request) => placementWire(await vms.where(request.params.name, request.query.at ? new Date(request.query.at).toISOString() : undefined)),
  });

  app.get('/vms/:name/snapshots', {
    schema: { operationId: 'listSnapshots', summary: 'List a VM\'s snapshots', tags, params: VmNameParams, response: { 200: SnapshotListSchema, ...errorResponses } },
    handler: async (request) => ({ snapshots: await vms.snapshots(request.params.name) }),
  });

  app.post('/vms/:name/snapshots', {
    schema: { operationId: 'createSnapshot', summary: 'Take a snapshot of every disk', tags, params: VmNameParams, body: CreateSnapshotBody, response: { 202: SnapshotOperationSchema, ...errorResponses } },
    handler: async (request, reply) => reply.status(202).send({ operation: operationWire(await vms.snapshot(request.params.name, 'snapshot', request.body.name, actorOf(request))) }),
  });

  app.post('/vms/:name/snapshots/:snapshot/revert', {
    schema: { operationId: 'revertSnapshot', summary: 'Revert a stopped VM to a snapshot', tags, params: SnapshotParams, response: { 202: SnapshotOperationSchema, ...errorResponses } },
    handler: async (request, reply) =>
      reply.status(202).send({ operation: operationWire(await vms.snapshot(request.params.name, 'revert', request.params.snapshot, actorOf(request))) }),
  });

  app.delete('/vms/:name/snapshots/:snapshot', {
    schema: { operationId: 'deleteSnapshot', summary: 'Delete a snapshot', tags, params: SnapshotParams, response: { 202: SnapshotOperationSchema, ...errorResponses } },
    handler: async (request, reply) =>
      reply.status(202).send({ operation: operationWire(await vms.snapshot(request.params.name, 'delete-snapshot', request.params.snapshot, actorOf(request))) }),
  });

  app.get('/vms/:name/console/log', {
    schema: {
      operationId: 'getConsoleLog',
      summary: 'The serial console log (text)',
      tags,
      params: VmNameParams,
      querystring: Type.Object({ tailBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024 })) }, { additionalProperties: false }),
      response: { 200: Type.String(), ...errorResponses },
    },
    handler: async (request, reply) => reply.type('text/plain; charset=utf-8').send(await vms.consoleLog(request.params.name, request.query.tailBytes)),
  });

  /** Pipes a client WebSocket to the one `open` makes on the VM's host agent; 4404 when the VM is unknown. */
  const proxyToAgent = async (socket: WebSocket, name: string, open: (agent: AgentClient) => WebSocket, what: string): Promise<void> => {
    let upstream: WebSocket;
    try {
      const vm = await vms.get(name);
      upstream = open(await vms.agentFor(vm));
    } catch (err) {
      socket.close(4404, (err as Error).message.slice(0, 120));
      return;
    }
    const pending: Buffer[] = [];
    upstream.on('open', () => pending.splice(0).forEach((d) => upstream.send(d)));
    upstream.on('message', (d: Buffer) => socket.send(d));
    upstream.on('close', (code, reason) => socket.close(code === 1005 ? 1000 : code, reason));
    upstream.on('error', () => socket.close(1011, `${what} unavailable`));
    socket.on('message', (d: Buffer) => (upstream.readyState === WebSocket.OPEN ? upstream.send(d) : pending.push(d)));
    socket.on('close', () => upstream.close());
  };

  app.route({
    method: 'GET',
    url: '/vms/:name/console',
    schema: {
      operationId: 'attachConsole',
      summary: 'The serial console, live, over WebSocket (send the upgrade): raw bytes both ways',
      tags,
      params: VmNameParams,
      response: { 101: { description: 'Switching to WebSocket.' }, ...errorResponses },
    },
    // Refuse before the upgrade, so a client gets a normal coded error instead of a closed socket.
    preValidation: async (request) => {
      const vm = await vms.get(request.params.name);
      if (vm.state !== 'running' && vm.state !== 'paused') throw new DroverError('VM_NOT_RUNNING', `${vm.name} is ${vm.state}`);
    },
    handler: async () => {
      throw new DroverError('INVALID_ARGUMENT', 'this route needs a WebSocket upgrade; /console/log serves the log over plain HTTP');
    },
    wsHandler: (socket, request) => proxyToAgent(socket, request.params.name, (agent) => agent.console(request.params.name), 'console'),
  });

  app.route({
    method: 'GET',
    url: '/vms/:name/vnc',
    schema: {
      operationId: 'attachVnc',
      summary: 'The graphical console (VNC, raw RFB bytes both ways) over WebSocket (send the upgrade), for noVNC and similar clients',
      tags,
      params: VmNameParams,
      response: { 101: { description: 'Switching to WebSocket.' }, ...errorResponses },
    },
    handler: async () => {
      throw new DroverError('INVALID_ARGUMENT', 'this route needs a WebSocket upgrade (a VNC client over WebSocket, such as noVNC)');
    },
    wsHandler: (socket, request) => proxyToAgent(socket, request.params.name, (agent) => agent.vnc(request.params.name), 'VNC display'),
  });
};
