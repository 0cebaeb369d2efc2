/**
 * The lease an agent renews with the controller about every second (POST /api/v1/ha/lease): the
 * agent pushes, the controller never polls hosts one after another to judge them. The renewal
 * lists what the host runs; the answer tells the agent which of its VMs are HA-protected and the
 * timings it must keep (see src/ha/README.md, the agent's side of the contract).
 */
import { createHmac } from 'node:crypto';
import { Type, type Static } from '@fastify/type-provider-typebox';
import { HostView } from '../../agent/host-routes.js';
import { VmView } from '../../vms/schemas.js';

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

/** One running guest's usage counters (since its process started), as its host reports them. */
export const VmStatsReport = Type.Object(
  {
    name: Name,
    cpuSeconds: Type.Number({ minimum: 0 }),
    memoryRssBytes: Type.Number({ minimum: 0 }),
    diskReadBytes: Type.Number({ minimum: 0 }),
    diskWriteBytes: Type.Number({ minimum: 0 }),
    netRxBytes: Type.Number({ minimum: 0 }),
    netTxBytes: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);

/**
 * What a host pushes with a renewal when something changed, when the controller asks, and at the
 * report interval: the answers of its GET /api/v1/host, /vms and /vm-stats, so the leader never
 * polls hosts one after another. Hosts that do not push are still polled.
 */
export const HostReport = Type.Object(
  {
    /** How long before sending the agent collected it, by its own clock. */
    ageMs: Type.Integer({ minimum: 0 }),
    host: HostView,
    vms: Type.Array(VmView, { maxItems: 10_000 }),
    stats: Type.Array(VmStatsReport, { maxItems: 10_000 }),
  },
  { additionalProperties: false },
);
export type HostReport = Static<typeof HostReport>;

export const LeaseRenewal = Type.Object(
  {
    host: Name,
    /** Every VM whose QEMU runs here, in any state. */
    vms: Type.Array(LeaseVm, { maxItems: 10_000 }),
    /** The host arms a watchdog that resets it when the agent stops feeding it. */
    watchdog: Type.Boolean(),
    /** The agent's lease had lapsed by its own clock when it sent this. */
    leaseLost: Type.Boolean(),
    report: Type.Optional(HostReport),
  },
  { additionalProperties: false },
);
export type LeaseRenewal = Static<typeof LeaseRenewal>;

export const IsolationResponse = Type.Union([Type.Literal('keep-running'), Type.Literal('power-off')]);

export const LeaseAnswer = Type.Object(
  {
    acceptedAt: Type.String(),
    /** The controller has no report of this host (it just became the leader, or never had one): send one with the next renewal. */
    reportWanted: Type.Optional(Type.Boolean()),
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
        /** A host sends a full report at least this often, and at once when its VMs change. */
        reportIntervalMs: Type.Optional(Type.Integer()),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type LeaseAnswer = Static<typeof LeaseAnswer>;
