/**
 * Wire schemas every domain shares. TypeBox schemas are JSON Schema: the same object validates
 * requests, serializes responses, types the handlers and becomes the OpenAPI document.
 */
import { Type, type TSchema } from '@fastify/type-provider-typebox';
import { NAME_PATTERN } from '../../shared/names.js';
import type { ErrorCode } from '../../shared/errors.js';
import { ERROR_CODE_KEYWORD } from '../../shared/http-errors.js';

/** Marks `schema` so its validation failures answer with `code`. */
export function withErrorCode<S extends TSchema>(schema: S, code: ErrorCode): S {
  return Object.assign(schema, { [ERROR_CODE_KEYWORD]: code });
}

/** A user-chosen name (VM, image, token...); failures answer INVALID_NAME. */
export const NameSchema = withErrorCode(
  Type.String({ pattern: NAME_PATTERN.source, maxLength: 63, description: 'Lowercase letters, digits and "-", starting with a letter; 1-63 characters.' }),
  'INVALID_NAME',
);

export const TimestampSchema = Type.String({ format: 'date-time', description: 'ISO 8601, UTC.' });

/** One of a fixed set of strings, as a plain JSON Schema `enum`. */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** `schema` or null. */
export const Nullable = <S extends TSchema>(schema: S) => Type.Union([schema, Type.Null()]);

/** The JSON shape of every API error. */
export const ErrorSchema = Type.Object(
  {
    code: Type.String({ description: 'Stable error code from the table in src/shared/errors.ts; scripts match on it.' }),
    message: Type.String({ description: 'What went wrong and what to do, for a person.' }),
    detail: Type.Optional(Type.String({ description: 'The specifics: which field, which resource, the underlying error.' })),
    field: Type.Optional(Type.String({ description: 'For invalid input: the field at fault, e.g. `body.name`.' })),
  },
  { additionalProperties: false, description: 'An error.' },
);

/** Response entries to spread into every route: all errors share ErrorSchema. */
export const errorResponses = { '4xx': ErrorSchema, '5xx': ErrorSchema } as const;

/** An id in a path: bounded (as Fastify bounds path parameters) so a huge one is refused before any lookup. */
export const IdSchema = Type.String({ minLength: 1, maxLength: 100 });
