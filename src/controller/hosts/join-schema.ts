import { Type, type Static } from '@fastify/type-provider-typebox';
import { NameSchema, TimestampSchema } from '../api/schemas.js';
import { HostTagsSchema } from './schema.js';

/** Every join token starts with this, so it is never mistaken for an API token (`drv_`). */
export const JOIN_TOKEN_PREFIX = 'drvj_';

/** How long a join token lives unless its creator says otherwise: one hour. */
export const DEFAULT_JOIN_TOKEN_TTL_SECONDS = 3600;

/** POST /hosts/join-tokens: an optional lifetime. */
export const CreateJoinTokenBody = Type.Object(
  {
    ttlSeconds: Type.Optional(
      Type.Integer({ minimum: 60, maximum: 7 * 86_400, description: `How long the token may be used; default ${DEFAULT_JOIN_TOKEN_TTL_SECONDS} s.` }),
    ),
  },
  { additionalProperties: false },
);

/** A minted join token: the secret, shown once, and when it stops working. */
export const JoinTokenSchema = Type.Object(
  {
    token: Type.String({ description: 'The secret, shown only here. It joins one host, once, before expiresAt.' }),
    expiresAt: TimestampSchema,
  },
  { additionalProperties: false },
);

/** POST /hosts/join: who the joining agent is, where the controller reaches it, and its placement settings. */
export const JoinBody = Type.Object(
  {
    name: NameSchema,
    address: Type.String({
      pattern: '^https?://[^\\s/?#]+/?$',
      maxLength: 200,
      description: 'The agent\'s URL as the controller reaches it, e.g. http://10.0.0.5:7701.',
    }),
    agentToken: Type.String({ minLength: 16, maxLength: 256, pattern: '^\\S+$', description: 'The bearer token the controller presents to the agent.' }),
    joinToken: Type.Optional(Type.String({ maxLength: 100, description: 'The join token, when not sent as the bearer token.' })),
    tags: Type.Optional(HostTagsSchema),
    cpuOvercommit: Type.Optional(Type.Number({ minimum: 0.1, maximum: 64, description: 'vCPUs per physical CPU; default 1.0.' })),
    memoryOvercommit: Type.Optional(Type.Number({ minimum: 0.1, maximum: 16, description: 'VM memory per byte of host memory; default 1.0.' })),
  },
  { additionalProperties: false },
);

/** What a joining agent sends. */
export type JoinRequest = Static<typeof JoinBody>;
