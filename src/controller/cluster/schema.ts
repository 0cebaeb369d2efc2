/** Wire types for maintenance mode and balancing. */
import { Type, type Static } from '@fastify/type-provider-typebox';
import type { BalancePlan } from '../../scheduler/balance.js';
import { MAX_INTERVAL_MINUTES } from './balance.js';
import type { EvacuationPlan } from '../../scheduler/evacuate.js';
import { Nullable, StringEnum } from '../api/schemas.js';
import { OperationSchema } from '../operations/schema.js';

export const EnterMaintenanceBody = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ description: 'Only report where each VM would go and which cannot move; change nothing.' })),
    force: Type.Optional(Type.Boolean({ description: 'Enter maintenance even if some VMs cannot move; they stay running on the host.' })),
  },
  { additionalProperties: false },
);

const Refusal = Type.Object({ host: Type.String(), filter: Type.String(), reason: Type.String() }, { additionalProperties: false });

export const EvacuationPlanSchema = Type.Object(
  {
    host: Type.String(),
    complete: Type.Boolean({ description: 'True when every VM on the host has somewhere to go.' }),
    totalCostBytes: Type.Number({ description: 'Memory and mirrored disks the whole evacuation copies, in bytes.' }),
    moves: Type.Array(
      Type.Object(
        {
          vm: Type.String(),
          to: Type.String(),
          reason: Type.String(),
          storage: StringEnum(['shared', 'local'] as const, { description: 'The pool the disks go to: shared (they stay), or local (mirrored into the destination\'s own storage during the migration).' }),
          memoryBytes: Type.Number({ description: 'Memory the migration copies at least once (0 for a move by restart).' }),
          restart: Type.Boolean({ description: 'The guest moves by a restart (a container\'s cold migration): down from its stop to its start.' }),
          diskBytes: Type.Number({ description: 'Disk bytes mirrored to the destination, at most (0 for shared storage).' }),
          costBytes: Type.Number({ description: 'memoryBytes + diskBytes.' }),
        },
        { additionalProperties: false },
      ),
    ),
    unmovable: Type.Array(Type.Object({ vm: Type.String(), reason: Type.String(), refusals: Type.Array(Refusal) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type EvacuationPlanWire = Static<typeof EvacuationPlanSchema>;

export const MaintenanceEntrySchema = Type.Object({ plan: EvacuationPlanSchema, operation: Nullable(OperationSchema) }, { additionalProperties: false });

export const BalanceBody = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ description: 'Only plan; change nothing.' })),
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Aim for every host within this many ratio points of even load; default 0.1.' })),
  },
  { additionalProperties: false },
);

export const BalancePlanSchema = Type.Object(
  {
    threshold: Type.Number(),
    imbalanceBefore: Type.Number(),
    imbalanceAfter: Type.Number(),
    balanced: Type.Boolean(),
    totalCostBytes: Type.Number(),
    stopReason: Type.String(),
    movesLowerBound: Nullable(Type.Integer({ description: 'The fewest moves any plan needs to bring the cluster within the threshold (placement filters ignored); null when no plan can.' })),
    moves: Type.Array(Type.Object({ vm: Type.String(), from: Type.String(), to: Type.String(), reason: Type.String(), costBytes: Type.Number(), restart: Type.Boolean({ description: 'Moves by a restart (a container): down from its stop to its start.' }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type BalancePlanWire = Static<typeof BalancePlanSchema>;

export const BalanceRunSchema = Type.Object({ plan: BalancePlanSchema, operation: Nullable(OperationSchema) }, { additionalProperties: false });

export const BalanceScheduleSchema = Type.Object(
  {
    enabled: Type.Boolean(),
    intervalMinutes: Type.Integer({ minimum: 1, maximum: MAX_INTERVAL_MINUTES }),
    threshold: Type.Number({ minimum: 0, maximum: 1 }),
  },
  { additionalProperties: false },
);

export const BalanceScheduleBody = Type.Partial(BalanceScheduleSchema, { additionalProperties: false });

/** The wire form of an evacuation plan, hosts by name. */
export function evacuationPlanWire(plan: EvacuationPlan): EvacuationPlanWire {
  return {
    host: plan.hostName,
    complete: plan.complete,
    totalCostBytes: plan.totalCostBytes,
    moves: plan.moves.map((m) => ({ vm: m.vmName, to: m.toHostName, reason: m.reason, storage: m.storage, memoryBytes: m.memoryBytes, restart: m.restart, diskBytes: m.diskBytes, costBytes: m.costBytes })),
    unmovable: plan.unmovable.map((u) => ({ vm: u.vmName, reason: u.reason, refusals: u.refusals.map((r) => ({ host: r.hostName, filter: r.filter, reason: r.reason })) })),
  };
}

/** The wire form of a balancing plan, hosts by name. */
export function balancePlanWire(plan: BalancePlan & { movesLowerBound: number | null }): BalancePlanWire {
  return {
    threshold: plan.threshold,
    imbalanceBefore: plan.imbalanceBefore,
    imbalanceAfter: plan.imbalanceAfter,
    balanced: plan.balanced,
    totalCostBytes: plan.totalCostBytes,
    stopReason: plan.stopReason,
    movesLowerBound: plan.movesLowerBound,
    moves: plan.moves.map((m) => ({ vm: m.vmName, from: m.fromHostName, to: m.toHostName, reason: m.reason, costBytes: m.costBytes, restart: m.restart })),
  };
}

/** The cluster policy as the API shows it. */
export const ClusterPolicySchema = Type.Object(
  {
    weight: StringEnum(['spread', 'pack'] as const, { description: 'spread: new VMs go where the most room is left; pack: onto the fullest host that fits.' }),
    cpuModel: Type.String({ description: 'The baseline CPU model every VM gets, so any VM can run on and move to any host offering it.' }),
    haHostFailures: Type.Integer({ minimum: 0, maximum: 100, description: 'HA admission control: starts and protections are refused unless the HA VMs of any this many failed hosts could restart on the others; 0 turns it off.' }),
  },
  { additionalProperties: false },
);

/** Body of PUT /api/v1/cluster/policy: the settings to change. */
export const ClusterPolicyBody = Type.Partial(ClusterPolicySchema, { additionalProperties: false });
