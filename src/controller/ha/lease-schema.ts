/**
 * The lease an agent renews with the controller about every second (POST /api/v1/ha/lease): the
 * agent pushes, the controller never polls hosts one after another to judge them. The renewal
 * lists what the host runs; the answer tells the agent which of its VMs are HA-protected and the
 * timings it must keep (see src/ha/README.md, the agent's side of the contract).
 */
import { createHmac } from 'node:crypto';
import { Type, type Static } from '@fastify/type-provider-typebox';

const Name = Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' });

/** The credential of a lease renewal: derived from the agent's token, which both sides hold, so the token itself never travels this way. */
export function leaseCredential(agentToken: string): string {
  return `drvl_${createHmac('sha256', agentToken).update('drover lease renewal').digest('base64url')}`;
}

export const LeaseVm = Type.Object(
  {
    name: Name,
    /** The host's id for the VM. */
    id: Type.String({ maxLength: 64 }),
    state: Type.String({ maxLength: 32 }),
    /** The generation it runs at; absent: started without one (not under HA). */
    generation: Type.Optional(Type.Integer({ minimum: 1 })),
    startedAt: Type.Optional(Type.String({ maxLength: 40 })),
    guestReady: Type.Boolean(),
    /** For a VM under guest monitoring: how long ago its guest agent last answered a ping; absent: not since the QEMU started. */
    guestAnsweredAgoMs: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type LeaseVm = Static<typeof LeaseVm>;

export const LeaseRenewal = Type.Object(
  {
    host: Name,
    /** Every VM whose QEMU runs here, in any state. */
    vms: Type.Array(LeaseVm, { maxItems: 10_000 }),
    /** The host arms a watchdog that resets it when the agent stops feeding it. */
    watchdog: Type.Boolean(),
    /** The agent's lease had lapsed by its own clock when it sent this. */
    leaseLost: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type LeaseRenewal = Static<typeof LeaseRenewal>;

export const IsolationResponse = Type.Union([Type.Literal('keep-running'), Type.Literal('power-off')]);

export const LeaseAnswer = Type.Object(
  {
    acceptedAt: Type.String(),
    /** This host's HA-protected VMs, by name, with what to do with each when isolated. */
    haVms: Type.Array(
      Type.Object(
        {
          name: Name,
          isolation: IsolationResponse,
          /** Ping its guest agent, for guest monitoring. */
          monitoring: Type.Boolean(),
          /** The newest generation HA issued; a running instance that has none yet (HA switched on while it ran) takes it. */
          generation: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    timings: Type.Object(
      {
        leaseIntervalMs: Type.Integer(),
        leaseExpiryMs: Type.Integer(),
        storageHeartbeatIntervalMs: Type.Integer(),
        storageHeartbeatExpiryMs: Type.Integer(),
        selfFenceMs: Type.Integer(),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type LeaseAnswer = Static<typeof LeaseAnswer>;
