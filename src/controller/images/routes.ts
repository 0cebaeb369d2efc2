import { Type } from '@fastify/type-provider-typebox';
import { DroverError } from '../../shared/errors.js';
import { NameSchema, StringEnum, errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { actorOf } from '../auth/hook.js';
import { operationWire, OperationSchema } from '../operations/schema.js';

const ImageSchema = Type.Object(
  {
    name: Type.String(),
    host: Type.String({ description: 'The host whose library holds the image.' }),
    format: Type.String(),
    sourceFormat: Type.String(),
    virtualSizeBytes: Type.Integer(),
    actualSizeBytes: Type.Integer(),
    sha256: Type.String(),
    createdAt: Type.String(),
    osNotes: Type.String(),
    type: StringEnum(['vm', 'container'] as const, { description: 'What the image boots as: a QEMU VM, or a system container (its root file system).' }),
    container: Type.Optional(
      Type.Object(
        {
          init: Type.Array(Type.String(), { description: 'The command the container driver runs as PID 1.' }),
          stopSignal: Type.String({ description: 'The signal that asks that init to power off cleanly.' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const ImportBody = Type.Object(
  {
    path: Type.String({ minLength: 1, maxLength: 4096, description: 'Path of the file on the host.' }),
    name: NameSchema,
    format: Type.Optional(StringEnum(['qcow2', 'raw', 'vmdk', 'vhdx'] as const)),
    osNotes: Type.Optional(Type.String({ maxLength: 1024 })),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'Host to import on; default: the only or first host.' })),
  },
  { additionalProperties: false },
);

/** /images: the image libraries of every host. */
export const imageRoutes: DomainRoutes = async (app, { services }) => {
  const tags = ['images'];
  const { hosts, operations } = services;
  const pickHost = async (name?: string) => {
    if (name) return hosts.get(name);
    const first = (await hosts.list()).find((h) => h.health !== 'unreachable');
    if (!first) throw new DroverError('HOST_UNREACHABLE', 'no reachable host; check `drover host list`');
    return first;
  };

  app.get('/images', {
    schema: { operationId: 'listImages', summary: 'List the images in every host\'s library', tags, response: { 200: Type.Object({ images: Type.Array(ImageSchema) }, { additionalProperties: false }), ...errorResponses } },
    handler: async () => {
      const images = [];
      for (const host of await hosts.list()) {
        if (host.health === 'unreachable') continue;
        const list = await (await hosts.client(host.id)).listImages();
        images.push(
          ...list.map((i) => ({
            name: i.name,
            host: host.name,
            format: i.format,
            sourceFormat: i.sourceFormat,
            virtualSizeBytes: i.virtualSizeBytes,
            actualSizeBytes: i.actualSizeBytes,
            sha256: i.sha256,
            createdAt: i.createdAt,
            osNotes: i.osNotes,
            // An agent from before container images lists no type: everything it holds is a VM image.
            type: i.type ?? 'vm',
            ...(i.container ? { container: { init: i.container.init, stopSignal: i.container.stopSignal } } : {}),
          })),
        );
      }
      return { images };
    },
  });

  app.post('/images/import', {
    schema: { operationId: 'importImage', summary: 'Import a qcow2, raw, vmdk or vhdx file on a host into its library', tags, body: ImportBody, response: { 202: Type.Object({ operation: OperationSchema }, { additionalProperties: false }), ...errorResponses } },
    handler: async (request, reply) => {
      const { host: hostName, ...body } = request.body;
      const host = await pickHost(hostName);
      const operation = await operations.start({
        kind: 'import',
        target: { type: 'image', id: `${host.name}/${body.name}`, name: body.name },
        actor: actorOf(request),
        hostId: host.id,
        busyError: 'IMAGE_EXISTS',
        work: async (ctx) => {
          await ctx.progress(0.05, `importing ${body.path} on ${host.name}`);
          const image = await (await hosts.client(host.id)).importImage(body);
          return { image: image.name, host: host.name, sha256: image.sha256, virtualSizeBytes: image.virtualSizeBytes };
        },
      });
      return reply.status(202).send({ operation: operationWire(operation) });
    },
  });

  app.delete('/images/:name', {
    schema: {
      operationId: 'deleteImage',
      summary: 'Delete an image from a host\'s library',
      tags,
      params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
      querystring: Type.Object({ host: Type.Optional(Type.String({ maxLength: 63 })) }, { additionalProperties: false }),
      response: { 204: Type.Null(), ...errorResponses },
    },
    handler: async (request, reply) => {
      const host = await pickHost(request.query.host);
      const inUse = (await services.store.vms.list()).some((vm) => vm.spec.imageId === request.params.name && vm.hostId === host.id);
      if (inUse) throw new DroverError('IMAGE_IN_USE', request.params.name);
      await (await hosts.client(host.id)).deleteImage(request.params.name);
      await services.events.record({ actor: actorOf(request), objectType: 'image', objectId: `${host.name}/${request.params.name}`, objectName: request.params.name, action: 'image.deleted', hostId: host.id, result: 'success' });
      return reply.status(204).send(null);
    },
  });
};
