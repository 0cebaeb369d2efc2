import { Type } from '@fastify/type-provider-typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { ImageLibrary } from './library.js';

const ImageView = Type.Object({
  name: Type.String(),
  format: Type.String(),
  sourceFormat: Type.String(),
  virtualSizeBytes: Type.Integer(),
  actualSizeBytes: Type.Integer(),
  sha256: Type.String(),
  createdAt: Type.String(),
  osNotes: Type.String(),
  path: Type.String(),
  type: Type.Union([Type.Literal('vm'), Type.Literal('container')]),
  boot: Type.Optional(Type.Object({ kernel: Type.String(), initrd: Type.String(), cmdline: Type.String() })),
  container: Type.Optional(Type.Object({ init: Type.Array(Type.String()), stopSignal: Type.String() })),
});

const ImportRequest = Type.Object(
  {
    path: Type.String({ minLength: 1, maxLength: 4096, description: 'Path of the file on the host.' }),
    name: Type.String({ minLength: 1, maxLength: 63 }),
    format: Type.Optional(Type.Union([Type.Literal('qcow2'), Type.Literal('raw'), Type.Literal('vmdk'), Type.Literal('vhdx')])),
    osNotes: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);

/** The host agent's image library routes; `inUse(name)` says whether VMs are backed by an image. */
export function imageRoutes(library: ImageLibrary, inUse: (name: string) => boolean) {
  return async function plugin(fastify: FastifyInstance): Promise<void> {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.get('/api/v1/images', { schema: { response: { 200: Type.Array(ImageView) } } }, async () => library.list());
    app.get('/api/v1/images/:name', { schema: { params: Type.Object({ name: Type.String({ maxLength: 200 }) }), response: { 200: ImageView } } }, async (req) =>
      library.get(req.params.name),
    );
    app.post('/api/v1/images/import', { schema: { body: ImportRequest, response: { 201: ImageView } } }, async (req, reply) => {
      const { path, name, format, osNotes } = req.body;
      const image = await library.import(path, { name, ...(format ? { format } : {}), ...(osNotes ? { osNotes } : {}) });
      reply.status(201);
      return image;
    });
    app.delete('/api/v1/images/:name', { schema: { params: Type.Object({ name: Type.String({ maxLength: 200 }) }) } }, async (req, reply) => {
      const name = req.params.name;
      await library.delete(name, { isInUse: () => inUse(name) });
      return reply.status(204).send();
    });
  };
}
