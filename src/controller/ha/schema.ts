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

const Ms = (description: string) => Type.Integer({ minimum: 0, maximum: 86_400_000, description: `${description} (ms)` });
const TimingFields = {
  leaseIntervalMs: Ms('How often agents renew their lease'),
  suspectAfterMs: Ms('A host whose lease is this old is suspect'),
  leaseExpiryMs: Ms('A host whose lease is this old has lost it'),
  storageHeartbeatIntervalMs: Ms('How often agents write their storage heartbeat slot'),
  storageHeartbeatExpiryMs: Ms('A slot unchanged this long has expired'),
  selfFenceMs: Ms('How long an agent that lost its lease has to kill its HA guests; its watchdog timeout'),
  safetyMarginMs: Ms('Added to every wait that relies on a host fencing itself'),
  fenceTimeoutMs: Ms('A fence attempt with no answer after this long has failed'),
  fenceRetryMs: Ms('Pause between fence attempts'),
  startTimeoutMs: Ms('A restart not acknowledged after this long is checked'),
  startCheckIntervalMs: Ms('Pause between such checks'),
  tierTimeoutMs: Ms('The next priority tier starts when the tier above answered, or after this long'),
};
const MonitoringFields = {
  noAnswerResetMs: Ms('A guest whose agent has not answered this long is reset'),
  maxResets: Type.Integer({ minimum: 0, maximum: 1000, description: 'At most this many resets of one VM in the window' }),
  resetWindowMs: Ms('The window of maxResets'),
  startupGraceMs: Ms('After a start or reset, the guest is left alone this long'),
};

/** GET /ha/settings: the HA configuration in force. */
export const HaSettingsSchema = Type.Object(
  {
    timings: Type.Object(TimingFields, { additionalProperties: false }),
    guestMonitoring: Type.Object(MonitoringFields, { additionalProperties: false }),
    relocationLimit: Type.Integer({ minimum: 0, description: 'Other hosts a failed restart is tried on before the VM is failed' }),
    vanishedRestartLimit: Type.Object({ max: Type.Integer(), windowMs: Type.Integer() }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

/** PUT /ha/settings: what to change; the rest keeps its value. */
export const HaSettingsBody = Type.Object(
  {
    timings: Type.Optional(Type.Partial(Type.Object(TimingFields), { additionalProperties: false })),
    guestMonitoring: Type.Optional(Type.Partial(Type.Object(MonitoringFields), { additionalProperties: false })),
    relocationLimit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
  },
  { additionalProperties: false },
);
