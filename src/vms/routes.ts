import net from 'node:net';
import { Type } from '@fastify/type-provider-typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { DroverError } from '../shared/errors.js';
import type { HostVmService } from './host-vms.js';
import { CreateVmRequest, ExecRequest, ExecResultView, SnapshotView, VmView } from './schemas.js';

const NameParams = Type.Object({ name: Type.String({ maxLength: 200 }) });
const SnapshotParams = Type.Object({ name: Type.String({ maxLength: 200 }), snapshot: Type.String({ maxLength: 200 }) });
const Snapshots = Type.Array(SnapshotView);
const Actions = ['kill', 'reboot', 'pause', 'resume'] as const;

/** The host agent's VM routes: lifecycle, exec, snapshots, clones, the serial console and the VNC display. */
export function vmRoutes(service: HostVmService) {
  return async function plugin(fastify: FastifyInstance): Promise<void> {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/api/v1/vms', { schema: { response: { 200: Type.Array(VmView) } } }, async () => service.list());
    app.post('/api/v1/vms', { schema: { body: CreateVmRequest, response: { 201: VmView } } }, async (req, reply) => {
      reply.status(201);
      return service.create(req.body);
    });
    app.get('/api/v1/vms/:name', { schema: { params: NameParams, response: { 200: VmView } } }, async (req) =>
      service.get(req.params.name),
    );
    app.delete(
      '/api/v1/vms/:name',
      { schema: { params: NameParams, querystring: Type.Object({ force: Type.Optional(Type.Boolean()) }) } },
      async (req, reply) => {
        await service.delete(req.params.name, req.query.force ?? false);
        return reply.status(204).send();
      },
    );
    // The body is optional (a plain start sends none), which a body schema cannot say: checked here.
    app.post('/api/v1/vms/:name/start', { schema: { params: NameParams, response: { 200: VmView } } }, async (req) =>
      service.start(req.params.name, startGeneration(req.body)),
    );
    app.post(
      '/api/v1/vms/:name/stop',
      {
        schema: {
          params: NameParams,
          querystring: Type.Object({ timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })) }, { additionalProperties: false }),
          response: { 200: VmView },
        },
      },
      async (req) => service.stop(req.params.name, req.query.timeoutMs),
    );
    for (const action of Actions) {
      app.post(`/api/v1/vms/:name/${action}`, { schema: { params: NameParams, response: { 200: VmView } } }, async (req) =>
        service.act(req.params.name, action),
      );
    }
    app.post(
      '/api/v1/vms/:name/wait-ready',
      {
        schema: {
          params: NameParams,
          body: Type.Object({ timeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }) }, { additionalProperties: false }),
          response: { 200: VmView },
        },
      },
      async (req) => service.waitReady(req.params.name, req.body.timeoutMs),
    );
    app.post(
      '/api/v1/vms/:name/exec',
      { schema: { params: NameParams, body: ExecRequest, response: { 200: ExecResultView } } },
      async (req) => {
        const { command, args, input, timeoutMs } = req.body;
        return service.exec(req.params.name, command, args ?? [], {
          ...(input !== undefined ? { input } : {}),
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        });
      },
    );
    app.put(
      '/api/v1/vms/:name/nics/:index/rate-limit',
      {
        schema: {
          params: Type.Object({ name: Type.String({ maxLength: 200 }), index: Type.Integer({ minimum: 0, maximum: 7 }) }),
          body: Type.Object({ rateLimitKbit: Type.Union([Type.Integer({ minimum: 8 }), Type.Null()]) }, { additionalProperties: false }),
          response: { 200: VmView },
        },
      },
      async (req) => service.setNicRateLimit(req.params.name, req.params.index, req.body.rateLimitKbit),
    );
    app.put(
      '/api/v1/vms/:name/limits',
      {
        schema: {
          params: NameParams,
          body: Type.Object(
            {
              cpuLimitPercent: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 6400 }), Type.Null()])),
              memoryMiB: Type.Optional(Type.Integer({ minimum: 64, maximum: 1024 * 1024 })),
              pidsLimit: Type.Optional(Type.Union([Type.Integer({ minimum: 8, maximum: 4_194_304 }), Type.Null()])),
            },
            { additionalProperties: false },
          ),
          response: { 200: VmView },
        },
      },
      async (req) => service.setLimits(req.params.name, req.body),
    );
    app.post(
      '/api/v1/vms/:name/clone',
      {
        schema: {
          params: NameParams,
          body: Type.Object(
            { name: Type.String({ minLength: 1, maxLength: 63 }), mode: Type.Optional(Type.Union([Type.Literal('linked'), Type.Literal('full')])) },
            { additionalProperties: false },
          ),
          response: { 201: VmView },
        },
      },
      async (req, reply) => {
        reply.status(201);
        return service.clone(req.params.name, req.body.name, req.body.mode ?? 'full');
      },
    );
    app.get('/api/v1/vms/:name/snapshots', { schema: { params: NameParams, response: { 200: Snapshots } } }, async (req) =>
      service.snapshotList(req.params.name),
    );
    app.post(
      '/api/v1/vms/:name/snapshots',
      {
        schema: {
          params: NameParams,
          body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 63 }) }, { additionalProperties: false }),
          response: { 201: Snapshots },
        },
      },
      async (req, reply) => {
        reply.status(201);
        return service.snapshotCreate(req.params.name, req.body.name);
      },
    );
    app.post(
      '/api/v1/vms/:name/snapshots/:snapshot/revert',
      { schema: { params: SnapshotParams, response: { 200: Snapshots } } },
      async (req) => service.snapshotRevert(req.params.name, req.params.snapshot),
    );
    app.delete(
      '/api/v1/vms/:name/snapshots/:snapshot',
      { schema: { params: SnapshotParams, response: { 200: Snapshots } } },
      async (req) => service.snapshotDelete(req.params.name, req.params.snapshot),
    );
    app.get(
      '/api/v1/vms/:name/console/log',
      { schema: { params: NameParams, querystring: Type.Object({ tailBytes: Type.Optional(Type.Integer({ minimum: 1 })) }) } },
      async (req, reply) => {
        const vm = service.get(req.params.name);
        return reply.type('text/plain; charset=utf-8').send(service.driverFor(vm.name).consoleLog(vm.id, req.query.tailBytes));
      },
    );
    /** Closes the websocket with 4000 + the error's HTTP status when `err` says why the console cannot be reached. */
    const refuse = (socket: WebSocket, err: unknown): void => {
      socket.close(4000 + ((err as DroverError).status ?? 500) % 1000, (err as Error).message.slice(0, 120));
    };
    const requireLive = (name: string): void => {
      if (service.status(name).state !== 'running' && service.status(name).state !== 'paused') throw new DroverError('VM_NOT_RUNNING', name);
    };
    // The guest's text console, both ways: QEMU's serial port or a container's pty, whichever its driver holds.
    app.get('/api/v1/vms/:name/console', { websocket: true, schema: { params: NameParams } }, (socket, req) => {
      const name = (req.params as { name: string }).name;
      // What the client types while the console is being attached is kept and written once it is: a 'message' with
      // no listener yet would be lost.
      const early: Buffer[] = [];
      const keep = (d: Buffer): void => void early.push(d);
      socket.on('message', keep);
      void (async () => {
        try {
          requireLive(name);
          const vm = service.get(name);
          const connection = await service.driverFor(name).attachConsole(vm.id);
          connection.onOutput((d) => socket.send(d));
          connection.onClose(() => socket.close());
          socket.off('message', keep);
          for (const d of early.splice(0)) connection.write(d);
          socket.on('message', (d: Buffer) => connection.write(d));
          socket.on('close', () => connection.close());
          if (socket.readyState !== socket.OPEN) connection.close();
        } catch (err) {
          refuse(socket, err);
        }
      })();
    });
    const attachVnc = (socket: WebSocket, name: string): void => {
      let path: string;
      try {
        requireLive(name);
        const vnc = service.driverFor(name).vncSocket(service.get(name).id);
        if (!vnc) throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${name} has no VNC display`);
        path = vnc;
      } catch (err) {
        refuse(socket, err);
        return;
      }
      const stream = net.connect(path);
      stream.on('data', (d) => socket.send(d));
      stream.on('close', () => socket.close());
      stream.on('error', () => socket.close(1011, 'VNC display unavailable'));
      socket.on('message', (d: Buffer) => stream.write(d));
      socket.on('close', () => stream.destroy());
    };
    // The VM's VNC display (QEMU's unix socket), raw RFB bytes both ways, for noVNC.
    app.get('/api/v1/vms/:name/vnc', { websocket: true, schema: { params: NameParams } }, (socket, req) =>
      attachVnc(socket, (req.params as { name: string }).name),
    );
  };
}

/** The HA generation a start request carries: none for no body or `{}`, else `{ generation: N }` with N a whole number from 1. */
export function startGeneration(body: unknown): number | undefined {
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw new DroverError('INVALID_ARGUMENT', 'the start body is {"generation": N} or nothing');
  const { generation, ...rest } = body as { generation?: unknown };
  if (Object.keys(rest).length > 0) throw new DroverError('INVALID_ARGUMENT', `unknown start field ${Object.keys(rest).join(', ')}`);
  if (generation === undefined) return undefined;
  if (typeof generation !== 'number' || !Number.isInteger(generation) || generation < 1) throw new DroverError('INVALID_ARGUMENT', 'generation is a whole number from 1');
  return generation;
}
