import type { FastifyInstance, RouteOptions } from 'fastify';
import { ERRORS } from '../../shared/errors.js';
import { isPublicRoute } from '../auth/hook.js';

type JsonObject = Record<string, unknown>;

interface CollectedRoute {
  method: string;
  url: string;
  schema: JsonObject;
}

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

/**
 * Builds the OpenAPI 3.1 document from the routes' own schemas, so the document cannot drift from
 * what the API validates and sends. Call `collect` before any route is registered.
 */
export class OpenApiCollector {
  private readonly routes: CollectedRoute[] = [];

  /** `components` (name → schema object) are emitted once and referenced wherever the same object is used. */
  constructor(private readonly components: Record<string, object> = {}) {}

  /** Records every route added to `app` and its children from now on. */
  collect(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const schema = (route.schema ?? {}) as JsonObject;
      if (schema.hide === true) return;
      for (const method of methods) {
        // Fastify adds a HEAD twin for every GET; it says nothing new.
        if (method !== 'HEAD') this.routes.push({ method, url: route.url, schema });
      }
    });
  }

  /** The document for all collected routes. Public routes are marked `security: []`. */
  document(info: OpenApiInfo): JsonObject {
    const paths: Record<string, Record<string, JsonObject>> = {};
    for (const route of this.routes) {
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      paths[path] ??= {};
      paths[path][route.method.toLowerCase()] = this.operation(route);
    }
    return {
      openapi: '3.1.0',
      info,
      paths,
      components: {
        schemas: Object.fromEntries(Object.entries(this.components).map(([name, schema]) => [name, plain(schema)])),
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A Drover API token (`drv_...`).' } },
      },
      security: [{ bearer: [] }],
      'x-drover-error-codes': Object.fromEntries(Object.entries(ERRORS).map(([code, entry]) => [code, { ...entry }])),
    };
  }

  private operation(route: CollectedRoute): JsonObject {
    const { schema } = route;
    const parameters = [...parametersFrom(schema.params, 'path'), ...parametersFrom(schema.querystring, 'query')];
    const result: JsonObject = {};
    for (const key of ['operationId', 'summary', 'description', 'tags'] as const) {
      if (schema[key] !== undefined) result[key] = schema[key];
    }
    if (parameters.length > 0) result.parameters = parameters;
    if (schema.body) result.requestBody = { required: true, content: { 'application/json': { schema: this.schema(schema.body) } } };
    result.responses = this.responses(schema.response as JsonObject | undefined);
    if (isPublicRoute(route.method, route.url)) result.security = [];
    return result;
  }

  private responses(response: JsonObject | undefined): JsonObject {
    if (!response) return { default: { description: 'Response' } };
    const out: JsonObject = {};
    for (const [status, value] of Object.entries(response)) {
      const entry = value as JsonObject;
      const key = status.replace(/xx$/i, 'XX');
      const description = String(entry.description ?? (/^[45]/.test(status) ? 'Error' : 'Response'));
      if (entry.content && typeof entry.content === 'object') {
        const content = Object.entries(entry.content as Record<string, JsonObject>).map(([type, media]) => [type, { schema: this.schema(media.schema) }]);
        out[key] = { description, content: Object.fromEntries(content) };
      } else if (entry.type === undefined && entry.anyOf === undefined && entry.$ref === undefined) {
        out[key] = { description };
      } else {
        out[key] = { description, content: { 'application/json': { schema: this.schema(entry) } } };
      }
    }
    return out;
  }

  private schema(schema: unknown): unknown {
    const name = Object.entries(this.components).find(([, component]) => component === schema)?.[0];
    return name ? { $ref: `#/components/schemas/${name}` } : plain(schema);
  }
}

function parametersFrom(schema: unknown, location: 'path' | 'query'): JsonObject[] {
  if (!schema || typeof schema !== 'object') return [];
  const object = schema as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || (object.required ?? []).includes(name),
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
    schema: plain(property),
  }));
}

/** A JSON-only deep copy: drops TypeBox's non-enumerable markers and anything not JSON. */
function plain(schema: unknown): unknown {
  return schema === undefined ? {} : JSON.parse(JSON.stringify(schema));
}
