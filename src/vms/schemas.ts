import { Type, type Static } from '@fastify/type-provider-typebox';
import { CpuModel, DeviceModel, DiskThrottle, GuestType, NicSpec, PortForward, VmState } from './spec.js';

const Name = Type.String({ minLength: 1, maxLength: 63, description: 'Lowercase letters, digits and "-", starting with a letter.' });

/** Body of POST /api/v1/vms. */
export const CreateVmRequest = Type.Object(
  {
    name: Name,
    type: Type.Optional(GuestType),
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    privileged: Type.Optional(Type.Boolean({ description: 'A container without a user namespace (root inside is root on the host).' })),
    pidsLimit: Type.Optional(Type.Integer({ minimum: 8, maximum: 4_194_304 })),
    swapMiB: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 * 1024 })),
    cpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    cpuModel: Type.Optional(CpuModel),
    memoryMiB: Type.Optional(Type.Integer({ minimum: 64, maximum: 1024 * 1024 })),
    diskGiB: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536 })),
    devices: Type.Optional(DeviceModel),
    clone: Type.Optional(Type.Union([Type.Literal('linked'), Type.Literal('full')])),
    diskThrottle: Type.Optional(DiskThrottle),
    extraDisks: Type.Optional(
      Type.Array(
        Type.Object(
          { name: Name, sizeGiB: Type.Integer({ minimum: 1, maximum: 65536 }), readOnly: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        { maxItems: 7 },
      ),
    ),
    portForwards: Type.Optional(Type.Array(PortForward, { maxItems: 64 })),
    bridge: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$' })),
    nicRateLimitKbit: Type.Optional(Type.Integer({ minimum: 8 })),
    networkNics: Type.Optional(
      Type.Array(
        Type.Object(
          {
            mac: Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' }),
            network: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
            vni: Type.Integer({ minimum: 1, maximum: 16_777_215 }),
            address: Type.String({ pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$' }),
            mtu: Type.Integer({ minimum: 576, maximum: 9000 }),
            rateLimitKbit: Type.Optional(Type.Integer({ minimum: 8 })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 7, description: 'NICs on virtual networks, after the first NIC; the controller assigns MAC and address.' },
      ),
    ),
    cpuPinning: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 4095 }), { minItems: 1, maxItems: 64 })),
    cpuLimitPercent: Type.Optional(Type.Integer({ minimum: 1, maximum: 6400 })),
    vnc: Type.Optional(Type.Boolean()),
    pool: Type.Optional(
      Type.Union([Type.Literal('local'), Type.Literal('shared')], {
        description: 'Where the disks live: this host\'s data directory (default), or the agent\'s --shared-storage directory every host reaches.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateVmRequest = Static<typeof CreateVmRequest>;

export const DiskView = Type.Object({
  name: Type.String(),
  path: Type.String(),
  sizeBytes: Type.Integer(),
  readOnly: Type.Boolean(),
  throttle: Type.Optional(DiskThrottle),
});

/** A VM as the API shows it. */
export const VmView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: GuestType,
  privileged: Type.Optional(Type.Boolean()),
  pidsLimit: Type.Optional(Type.Integer()),
  cpuLimitPercent: Type.Optional(Type.Integer()),
  image: Type.Optional(Type.String()),
  cpus: Type.Integer(),
  cpuModel: Type.String({ description: 'The CPU model the guest sees.' }),
  memoryMiB: Type.Integer(),
  devices: DeviceModel,
  state: VmState,
  guestReady: Type.Boolean(),
  pid: Type.Optional(Type.Integer()),
  startedAt: Type.Optional(Type.String()),
  crashReason: Type.Optional(Type.String()),
  addresses: Type.Optional(Type.Array(Type.String(), { description: 'Guest IP addresses, as its agent reports them.' })),
  generation: Type.Optional(Type.Integer({ description: 'The HA generation this host last started the VM at.' })),
  disks: Type.Array(DiskView),
  nics: Type.Array(NicSpec),
  createdAt: Type.String(),
});
export type VmView = Static<typeof VmView>;

export const SnapshotView = Type.Object({
  name: Type.String(),
  createdAt: Type.String(),
  vmStateSizeBytes: Type.Integer(),
});
export type SnapshotView = Static<typeof SnapshotView>;

export const ExecRequest = Type.Object(
  {
    command: Type.String({ minLength: 1, maxLength: 4096 }),
    args: Type.Optional(Type.Array(Type.String({ maxLength: 65536 }), { maxItems: 256 })),
    input: Type.Optional(Type.String({ maxLength: 1024 * 1024 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);
export type ExecRequest = Static<typeof ExecRequest>;

export const ExecResultView = Type.Object({
  exitCode: Type.Integer(),
  stdout: Type.String(),
  stderr: Type.String(),
  signal: Type.Optional(Type.Integer()),
});
