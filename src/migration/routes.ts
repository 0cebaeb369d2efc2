/**
 * The agent API of live migration. Source side: POST /api/v1/vms/:name/migrate (progress and cancel through
 * /api/v1/migrations/:id). Destination side, called by the source agent: POST /api/v1/migrations/incoming,
 * POST /api/v1/migrations/:id/finish and POST /api/v1/migrations/:id/cancel.
 */
import { Type } from '@fastify/type-provider-typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { DroverError } from '../shared/errors.js';
import { VmView } from '../vms/schemas.js';
import { IncomingPlan, IncomingRequest, MigrateRequest, MigrationView } from './schemas.js';
import type { MigrationService } from './service.js';
import { ColdIncomingPlan, ColdIncomingRequest, NbdTargetSchema, type ColdMoves } from './cold.js';

const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const NameParams = Type.Object({ name: Type.String({ maxLength: 200 }) });

/** A socket address as it goes into a URI; IPv4 peers of a dual-stack socket lose their ::ffff: prefix. */
function plainAddress(address: string | undefined): string {
  if (!address) throw new DroverError('INTERNAL', 'the request socket has no address');
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

/** Registers the migration routes on a host agent: live migration, and the steps of a cold move. */
export function migrationRoutes(service: MigrationService, cold: ColdMoves) {
  return async function plugin(fastify: FastifyInstance): Promise<void> {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get('/api/v1/migrations', { schema: { response: { 200: Type.Array(MigrationView) } } }, async () => service.list());
    app.get('/api/v1/migrations/:id', { schema: { params: IdParams, response: { 200: MigrationView } } }, async (req) => service.get(req.params.id));
    app.post('/api/v1/migrations/:id/cancel', { schema: { params: IdParams, response: { 202: MigrationView } } }, async (req, reply) => {
      reply.status(202);
      return service.cancel(req.params.id);
    });

    app.post('/api/v1/vms/:name/migrate', { schema: { params: NameParams, body: MigrateRequest, response: { 202: MigrationView } } }, async (req, reply) => {
      reply.status(202);
      return service.migrate(req.params.name, req.body);
    });
    app.get('/api/v1/vms/:name/migration', { schema: { params: NameParams, response: { 200: MigrationView } } }, async (req) =>
      service.activeFor(req.params.name),
    );
    app.post('/api/v1/vms/:name/migrate/cancel', { schema: { params: NameParams, response: { 202: MigrationView } } }, async (req, reply) => {
      reply.status(202);
      return service.cancel(service.activeFor(req.params.name).id);
    });

    // The destination listens on the address the source reached this agent at, so any routable address works.
    app.post('/api/v1/migrations/incoming', { schema: { body: IncomingRequest, response: { 201: IncomingPlan } } }, async (req, reply) => {
      const plan = await service.prepareIncoming(req.body, plainAddress(req.socket.localAddress), plainAddress(req.socket.remoteAddress));
      reply.status(201);
      return plan;
    });
    // Cold moves, step by step as the controller drives them.
    app.get('/api/v1/vms/:name/cold-move/record', { schema: { params: NameParams } }, async (req) => cold.record(req.params.name));
    app.post('/api/v1/vms/:name/cold-move/copy', { schema: { params: NameParams, body: NbdTargetSchema } }, async (req) => cold.copyDisk(req.params.name, req.body));
    app.post('/api/v1/vms/:name/cold-move/copy-changes', { schema: { params: NameParams, body: NbdTargetSchema } }, async (req) => cold.copyChanges(req.params.name, req.body));
    app.post(
      '/api/v1/vms/:name/cold-move/release',
      { schema: { params: NameParams, body: Type.Object({ sharedDisksInUse: Type.Boolean() }, { additionalProperties: false }) } },
      async (req) => {
        cold.release(req.params.name, req.body.sharedDisksInUse);
        return { released: req.params.name };
      },
    );
    app.post('/api/v1/cold-moves/incoming', { schema: { body: ColdIncomingRequest, response: { 201: ColdIncomingPlan } } }, async (req, reply) => {
      const plan = await cold.prepareIncoming(req.body, plainAddress(req.socket.localAddress));
      reply.status(201);
      return plan;
    });
    app.post('/api/v1/cold-moves/incoming/:name/finish', { schema: { params: NameParams, response: { 200: VmView } } }, async (req) => cold.finishIncoming(req.params.name));
    app.delete('/api/v1/cold-moves/incoming/:name', { schema: { params: NameParams } }, async (req) => {
      await cold.abortIncoming(req.params.name);
      return { aborted: req.params.name };
    });
    app.post('/api/v1/migrations/:id/finish', { schema: { params: IdParams, response: { 200: VmView } } }, async (req) =>
      service.finishIncoming(req.params.id),
    );
  };
}
