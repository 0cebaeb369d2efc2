import { Type, type Static } from '@fastify/type-provider-typebox';
import { NameSchema, Nullable, StringEnum, TimestampSchema } from '../api/schemas.js';
import { ROLES, type TokenInfo } from './tokens.js';

export const RoleSchema = StringEnum(ROLES, { description: 'What the token may do.' });

export const TokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    role: Type.String(),
    createdAt: TimestampSchema,
    revokedAt: Nullable(TimestampSchema),
    lastUsedAt: Nullable(TimestampSchema),
  },
  { additionalProperties: false, description: 'An API token, without its secret.' },
);
export type TokenWire = Static<typeof TokenSchema>;

export const TokenListSchema = Type.Object({ tokens: Type.Array(TokenSchema) }, { additionalProperties: false });

export const CreateTokenBody = Type.Object(
  { name: NameSchema, role: Type.Optional(RoleSchema) },
  { additionalProperties: false },
);

export const CreatedTokenSchema = Type.Object(
  { token: TokenSchema, secret: Type.String({ description: 'Shown this once; store it now.' }) },
  { additionalProperties: false, description: 'The new token and its secret.' },
);

export const TokenNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 63 }) }, { additionalProperties: false });

/** The wire form of a token. */
export function tokenWire(token: TokenInfo): TokenWire {
  return { ...token };
}
