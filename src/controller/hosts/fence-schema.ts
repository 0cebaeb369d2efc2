/** Wire types of /hosts/:name/fence: the device as set, as shown (secrets redacted), and a test's answer. */
import { Type, type Static } from '@fastify/type-provider-typebox';
import { redactOptions } from '../../fencing/device.js';
import type { DeviceTestResult } from '../../fencing/fence.js';
import { StringEnum, TimestampSchema } from '../api/schemas.js';
import type { FenceDeviceRecord, HostRecord } from '../store/records.js';

export { FenceDevice as FenceDeviceBody } from '../../fencing/device.js';

/** A host's fence device as the API shows it. */
export const HostFenceSchema = Type.Object(
  {
    host: Type.String(),
    agent: Type.String({ description: 'The fence agent program, e.g. fence_ipmilan.' }),
    options: Type.Record(Type.String(), Type.String(), {
      description: 'The agent options; every secret value (password, passwd, *_key, token, community...) is shown as "***".',
    }),
    setAt: TimestampSchema,
    setBy: Type.String({ description: 'The token that set it.' }),
  },
  { additionalProperties: false },
);
export type HostFenceWire = Static<typeof HostFenceSchema>;

/** What a fence device answered to `status` (or `monitor`, for agents without status). */
export const FenceTestSchema = Type.Object(
  {
    host: Type.String(),
    agent: Type.String(),
    action: StringEnum(['status', 'monitor'] as const, { description: 'What the agent was asked; neither changes the power.' }),
    reachable: Type.Boolean({ description: 'The device answered.' }),
    state: Type.Optional(StringEnum(['on', 'off'] as const, { description: 'The host\'s power as the device reports it; monitor tells only "off", from single-port devices.' })),
    output: Type.String({ description: 'The end of what the agent printed, secrets removed.' }),
  },
  { additionalProperties: false },
);
export type FenceTestWire = Static<typeof FenceTestSchema>;

/** The short form in a host's wire form: which agent, never its options. */
export const HostFenceSummarySchema = Type.Object(
  { agent: Type.String(), setAt: TimestampSchema },
  { additionalProperties: false, description: 'The host\'s fence device (`GET /hosts/{name}/fence` shows it); null when none is set, and HA cannot fence the host.' },
);

/** The wire form of a host's fence device, secrets redacted. */
export function hostFenceWire(host: HostRecord, device: FenceDeviceRecord): HostFenceWire {
  return { host: host.name, agent: device.agent, options: redactOptions(device.options), setAt: device.setAt, setBy: device.setBy };
}

/** The wire form of a device test's answer. */
export function fenceTestWire(host: HostRecord, device: FenceDeviceRecord, result: DeviceTestResult): FenceTestWire {
  return { host: host.name, agent: device.agent, reachable: true, ...result };
}
