import { Type, type Static } from '@fastify/type-provider-typebox';

/** Device model: paravirtualized virtio devices, or emulated IDE + e1000 for unmodified guests. */
export const DeviceModel = Type.Union([Type.Literal('virtio'), Type.Literal('emulated')]);
export type DeviceModel = Static<typeof DeviceModel>;

/** What kind of guest: a virtual machine (QEMU) or a system container (runc). One resource, two drivers. */
export const GuestType = Type.Union([Type.Literal('vm'), Type.Literal('container')]);
export type GuestType = Static<typeof GuestType>;

/** What only a system container has: its init, how to ask it to power off, and its user-namespace choice. */
export const ContainerSpec = Type.Object(
  {
    init: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 64, description: 'PID 1 and its arguments.' }),
    stopSignal: Type.String({ pattern: '^SIG[A-Z0-9+]{2,16}$', description: 'The signal that asks init to power off (systemd: SIGRTMIN+3).' }),
    privileged: Type.Optional(Type.Boolean({ description: 'No user namespace: root in the container is root on the host. For admins only.' })),
    pidsLimit: Type.Optional(Type.Integer({ minimum: 8, maximum: 4_194_304, description: 'Most processes and threads at once.' })),
    swapMiB: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 * 1024, description: 'Swap on top of memory; default 0.' })),
  },
  { additionalProperties: false },
);
export type ContainerSpec = Static<typeof ContainerSpec>;

/** The model a VM gets when nothing chose one (and that every VM recorded before models were per VM runs). */
export const DEFAULT_CPU_MODEL = 'qemu64';

/** What a model name may look like: QEMU's names (Nehalem, Skylake-Server-v4, qemu64), never a feature list. */
export const CPU_MODEL_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

/** A QEMU CPU model name (`qemu-system-x86_64 -cpu help`), without feature flags. */
export const CpuModel = Type.String({ pattern: CPU_MODEL_PATTERN, description: 'The CPU model the guest sees (QEMU -cpu), e.g. qemu64 or Nehalem; default qemu64.' });

export const DiskThrottle = Type.Object(
  {
    bytesPerSecond: Type.Optional(Type.Integer({ minimum: 1024, description: 'Total read+write bandwidth cap.' })),
    iops: Type.Optional(Type.Integer({ minimum: 10, description: 'Total read+write operations per second cap.' })),
  },
  { additionalProperties: false },
);
export type DiskThrottle = Static<typeof DiskThrottle>;

export const DiskSpec = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
    path: Type.String({ minLength: 1 }),
    readOnly: Type.Optional(Type.Boolean()),
    throttle: Type.Optional(DiskThrottle),
  },
  { additionalProperties: false },
);
export type DiskSpec = Static<typeof DiskSpec>;

export const PortForward = Type.Object(
  {
    protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
    hostPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    guestPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    hostAddress: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type PortForward = Static<typeof PortForward>;

export const NicSpec = Type.Union([
  Type.Object(
    {
      mode: Type.Literal('user'),
      mac: Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' }),
      portForwards: Type.Optional(Type.Array(PortForward, { maxItems: 64 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      mode: Type.Literal('bridge'),
      mac: Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' }),
      bridge: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$' }),
      rateLimitKbit: Type.Optional(Type.Integer({ minimum: 8, description: 'Cap in kbit/s, both directions.' })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      mode: Type.Literal('network'),
      mac: Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' }),
      network: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$', description: 'The virtual network (an overlay across hosts).' }),
      vni: Type.Integer({ minimum: 1, maximum: 16_777_215, description: 'Its VXLAN id: the tap joins bridge drvnb<vni>.' }),
      address: Type.String({ pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$', description: 'The guest\'s IPv4 address with prefix length.' }),
      mtu: Type.Integer({ minimum: 576, maximum: 9000 }),
      rateLimitKbit: Type.Optional(Type.Integer({ minimum: 8, description: 'Cap in kbit/s, both directions.' })),
    },
    { additionalProperties: false },
  ),
]);
export type NicSpec = Static<typeof NicSpec>;

export const BootSpec = Type.Object(
  {
    kernel: Type.String({ minLength: 1 }),
    initrd: Type.Optional(Type.String()),
    cmdline: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export type BootSpec = Static<typeof BootSpec>;

/** Everything a host needs to run one VM; disk paths are absolute paths on that host. */
export const VmSpec = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z0-9-]{1,64}$' }),
    name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
    /** Absent: 'vm' (every spec written before containers existed). */
    type: Type.Optional(GuestType),
    container: Type.Optional(ContainerSpec),
    cpus: Type.Integer({ minimum: 1, maximum: 64 }),
    cpuModel: Type.Optional(CpuModel),
    memoryMiB: Type.Integer({ minimum: 32, maximum: 1024 * 1024 }),
    devices: DeviceModel,
    disks: Type.Array(DiskSpec, { minItems: 1, maxItems: 8 }),
    nics: Type.Array(NicSpec, { maxItems: 8 }),
    boot: Type.Optional(BootSpec),
    cpuPinning: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 4095 }), { minItems: 1, maxItems: 64 })),
    cpuLimitPercent: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 6400, description: 'Host CPU cap for the whole VM, 100 = one core.' }),
    ),
    vnc: Type.Optional(Type.Boolean()),
    freePageReporting: Type.Optional(
      Type.Boolean({ description: 'A virtio balloon whose guest reports the memory it frees, so an idle VM gives back what a burst took (virtio VMs only).' }),
    ),
  },
  { additionalProperties: false },
);
export type VmSpec = Static<typeof VmSpec>;

/** A VM's lifecycle state as a host sees it. */
export const VmState = Type.Union([
  Type.Literal('stopped'),
  Type.Literal('starting'),
  Type.Literal('running'),
  Type.Literal('paused'),
  Type.Literal('stopping'),
  Type.Literal('crashed'),
]);
export type VmState = Static<typeof VmState>;
