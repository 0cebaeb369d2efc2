import { Type, type Static } from '@fastify/type-provider-typebox';
import { IdSchema, Nullable, StringEnum, TimestampSchema } from '../api/schemas.js';
import type { OperationRecord } from '../store/records.js';

export const OperationStateSchema = StringEnum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);

export const OperationErrorSchema = Type.Object(
  {
    code: Type.String(),
    message: Type.String(),
    detail: Type.Optional(Type.String()),
    undoFailures: Type.Optional(Type.Array(Type.Object({ step: Type.String(), message: Type.String() }, { additionalProperties: false }))),
  },
  { additionalProperties: false },
);

export const OperationSchema = Type.Object(
  {
    id: Type.String(),
    kind: Type.String({ description: 'create, start, stop, clone, snapshot, revert, import, delete...' }),
    target: Type.Object({ type: Type.String(), id: Type.String(), name: Nullable(Type.String()) }, { additionalProperties: false }),
    hostId: Nullable(Type.String()),
    state: OperationStateSchema,
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    message: Type.String(),
    steps: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          state: StringEnum(['pending', 'running', 'done', 'failed', 'undone', 'undo-failed']),
          error: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    result: Type.Unknown({ description: 'What the operation produced, once it has succeeded.' }),
    error: Nullable(OperationErrorSchema),
    actor: Type.String(),
    cancelRequested: Type.Boolean(),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  },
  { additionalProperties: false, description: 'A long-running action and how it is going.' },
);
export type OperationWire = Static<typeof OperationSchema>;

export const OperationListSchema = Type.Object({ operations: Type.Array(OperationSchema) }, { additionalProperties: false });

export const OperationListQuery = Type.Object(
  {
    state: Type.Optional(OperationStateSchema),
    targetType: Type.Optional(Type.String({ maxLength: 64 })),
    targetId: Type.Optional(IdSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const OperationIdParams = Type.Object({ id: IdSchema }, { additionalProperties: false });

export const OperationGetQuery = Type.Object(
  { wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 60, description: 'Seconds to wait for the operation to finish first.' })) },
  { additionalProperties: false },
);

/** The wire form of an operation. */
export function operationWire(op: OperationRecord): OperationWire {
  return {
    id: op.id,
    kind: op.kind,
    target: { type: op.targetType, id: op.targetId, name: op.targetName },
    hostId: op.hostId,
    state: op.state,
    progress: op.progress,
    message: op.message,
    steps: op.steps,
    result: op.result,
    error: op.error,
    actor: op.actor,
    cancelRequested: op.cancelRequested,
    createdAt: op.createdAt,
    updatedAt: op.updatedAt,
  };
}
