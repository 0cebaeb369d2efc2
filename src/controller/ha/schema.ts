import { Type } from '@fastify/type-provider-typebox';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

/** GET /ha/status. */
export const HaStatusSchema = Type.Object(
  {
    hosts: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          liveness: Type.String({ description: 'ok, suspect, isolated, failed, fenced, confirmed-down (or unknown before the first judgement)' }),
          reason: Type.String(),
          leaseAgeMs: Nullable(Type.Integer()),
          storageHeartbeatAgeMs: Nullable(Type.Integer()),
          watchdog: Type.Boolean(),
          fenceDevice: Type.Boolean(),
          fence: Type.String({ description: 'none, in-progress, fenced, or failed: why' }),
        },
        { additionalProperties: false },
      ),
    ),
    vms: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          host: Nullable(Type.String()),
          priority: Type.Integer(),
          isolation: Type.String(),
          phase: Type.String({ description: 'protected, waiting, queued, starting, started, failed' }),
          generation: Type.Integer(),
          waiting: Type.Optional(Type.String()),
          failedReason: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    admission: Type.Object(
      {
        haHostFailures: Type.Integer(),
        admitted: Type.Boolean(),
        reason: Type.String(),
      },
      { additionalProperties: false },
    ),
    timings: Type.Record(Type.String(), Type.Number()),
  },
  { additionalProperties: false },
);
