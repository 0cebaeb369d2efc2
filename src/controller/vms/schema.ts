import { Type, type Static } from '@fastify/type-provider-typebox';
import { NameSchema, Nullable, StringEnum, TimestampSchema } from '../api/schemas.js';
import { OperationSchema } from '../operations/schema.js';
import { HostTagsSchema } from '../hosts/schema.js';

export const VM_STATES = ['creating', 'stopped', 'starting', 'running', 'stopping', 'paused', 'crashed', 'error', 'deleting'] as const;
export const DEVICE_MODELS = ['virtio', 'emulated'] as const;
export const GUEST_TYPES = ['vm', 'container'] as const;

const GroupNamesSchema = (kind: string) =>
  Type.Array(NameSchema, { maxItems: 16, uniqueItems: true, description: `${kind} group names (lowercase names); a group exists while a VM names it.` });

/** A VM's placement rules: host tags it needs, and the groups it shares hosts with or keeps apart from. */
export const PlacementRulesSchema = Type.Object(
  {
    requiredTags: Type.Optional({ ...HostTagsSchema, description: 'Tags a host must carry, all of them, to run the VM (like a vSphere VM-host "must run on" rule).' }),
    affinityGroups: Type.Optional(GroupNamesSchema('Affinity: every member runs on the same host.')),
    antiAffinityGroups: Type.Optional(GroupNamesSchema('Anti-affinity: every member runs on a different host.')),
  },
  { additionalProperties: false },
);
export type PlacementRulesWire = Static<typeof PlacementRulesSchema>;

/** A VM's HA policy as given: every field has a default. */
export const HaPolicyBody = Type.Object(
  {
    priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 5, description: '1 (restarts last) to 5 (first); default 3.' })),
    isolation: Type.Optional(StringEnum(['keep-running', 'power-off'] as const, { description: 'What a host cut off from the controller (but alive) does with the VM; default keep-running.' })),
    monitoring: Type.Optional(Type.Boolean({ description: 'Reset the guest when its guest agent stops answering; default false.' })),
  },
  { additionalProperties: false },
);

/** The HA policy as shown. */
export const HaPolicySchema = Type.Object(
  { priority: Type.Integer(), isolation: Type.String(), monitoring: Type.Boolean() },
  { additionalProperties: false },
);

/** PATCH /vms/:name: switch HA on (with its policy) or off. */
export const UpdateVmBody = Type.Object(
  {
    ha: Type.Optional(Type.Union([HaPolicyBody, Type.Null()], { description: 'The HA policy (fields not given keep their value, or default); null switches HA off.' })),
  },
  { additionalProperties: false },
);
export type UpdateVmBody = Static<typeof UpdateVmBody>;

export const VmNameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });
export const SnapshotParams = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100 }), snapshot: Type.String({ minLength: 1, maxLength: 100 }) },
  { additionalProperties: false },
);

const PortForwardSchema = Type.Object(
  {
    protocol: StringEnum(['tcp', 'udp'] as const),
    hostPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    guestPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  { additionalProperties: false },
);

/** One NIC on a virtual network in POST /api/v1/vms: the controller picks a free address unless `address` names one. */
const VmNetworkRequest = Type.Object(
  {
    network: NameSchema,
    address: Type.Optional(Type.String({ minLength: 7, maxLength: 15, description: 'IPv4 address in the network\'s subnet.' })),
    rateLimitMbit: Type.Optional(Type.Number({ description: 'Cap on the NIC in megabits per second, each direction (8 Mbit/s = 1 MB/s); 0.008 to 100000.' })),
  },
  { additionalProperties: false },
);

/** Body of POST /api/v1/vms. */
export const CreateVmBody = Type.Object(
  {
    name: NameSchema,
    type: Type.Optional(StringEnum(GUEST_TYPES, { description: 'vm (default): a QEMU virtual machine; container: a system container (runc) run from a container image.' })),
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'Library image to clone the root disk from.' })),
    privileged: Type.Optional(Type.Boolean({ description: 'Containers only: no user namespace, so root inside is root on the host. For admins; shown in `vm show`.' })),
    pidsLimit: Type.Optional(Type.Integer({ minimum: 8, maximum: 4_194_304, description: 'Containers only: most processes and threads at once.' })),
    swapMiB: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 * 1024, description: 'Containers only: swap on top of memory; default 0.' })),
    cpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 1 })),
    memoryMiB: Type.Optional(Type.Integer({ minimum: 64, maximum: 1024 * 1024, default: 256 })),
    diskGiB: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, description: 'Root disk size; at least the image size.' })),
    devices: Type.Optional(StringEnum(DEVICE_MODELS, { description: 'virtio (paravirtualized) or emulated (IDE + e1000).' })),
    clone: Type.Optional(StringEnum(['linked', 'full'] as const, { description: 'How the root disk is made from the image; default linked.' })),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'Host to place the VM on; default: the scheduler picks.' })),
    start: Type.Optional(Type.Boolean({ description: 'Start the VM once created.' })),
    portForwards: Type.Optional(Type.Array(PortForwardSchema, { maxItems: 64 })),
    diskBytesPerSecond: Type.Optional(Type.Integer({ minimum: 1024, description: 'Root disk bandwidth cap.' })),
    diskIops: Type.Optional(Type.Integer({ minimum: 10, description: 'Root disk IOPS cap.' })),
    cpuLimitPercent: Type.Optional(Type.Integer({ minimum: 1, maximum: 6400, description: 'Host CPU cap, 100 = one core.' })),
    cpuPinning: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 4095 }), { minItems: 1, maxItems: 64 })),
    pool: Type.Optional(StringEnum(['local', 'shared'] as const, { description: 'Where the disks live: the host\'s own directory (default) or shared storage every host reaches.' })),
    placement: Type.Optional(PlacementRulesSchema),
    ha: Type.Optional(HaPolicyBody),
    networks: Type.Optional(Type.Array(VmNetworkRequest, { maxItems: 7, description: 'NICs on virtual networks, after the default user-mode NIC.' })),
  },
  { additionalProperties: false },
);
export type CreateVmBody = Static<typeof CreateVmBody>;

export const VmDiskSchema = Type.Object(
  { name: Type.String(), sizeBytes: Type.Integer(), readOnly: Type.Boolean() },
  { additionalProperties: false },
);

/** A VM NIC: mode user, bridge (network = the bridge) or network (a virtual network, with the address Drover assigned). */
export const VmNicSchema = Type.Object(
  {
    name: Type.String(),
    mode: StringEnum(['user', 'bridge', 'network'] as const),
    network: Type.String(),
    mac: Type.String(),
    address: Nullable(Type.String()),
    rateLimitMbit: Nullable(Type.Number({ description: 'Cap in megabits per second, each direction; null: unlimited.' })),
  },
  { additionalProperties: false },
);

export const VmNicParams = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100 }), nic: Type.String({ minLength: 1, maxLength: 16, description: 'The NIC\'s name (eth1) as GET /vms/:name lists it.' }) },
  { additionalProperties: false },
);

/** Body of PATCH /api/v1/vms/:name/nics/:nic. */
export const UpdateVmNicBody = Type.Object(
  { rateLimitMbit: Nullable(Type.Number({ description: 'New cap in megabits per second, each direction; null removes it.' })) },
  { additionalProperties: false },
);
export type UpdateVmNicBody = Static<typeof UpdateVmNicBody>;

/** Body of PATCH /api/v1/vms/:name/limits: a field given changes, null removes a limit. */
export const UpdateVmLimitsBody = Type.Object(
  {
    cpuLimitPercent: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 6400, description: 'Host CPU cap, 100 = one core; null removes it. Live.' }))),
    memoryMiB: Type.Optional(Type.Integer({ minimum: 64, maximum: 1024 * 1024, description: 'Memory: live for a container, at the next start for a VM.' })),
    pidsLimit: Type.Optional(Nullable(Type.Integer({ minimum: 8, maximum: 4_194_304, description: 'Containers: most processes; null removes it. Live.' }))),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateVmLimitsBody = Static<typeof UpdateVmLimitsBody>;

/** A VM as the controller API shows it. */
export const VmSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    type: StringEnum(GUEST_TYPES, { description: 'vm: a QEMU virtual machine; container: a system container.' }),
    privileged: Type.Boolean({ description: 'A container without a user namespace: root inside is root on the host.' }),
    pidsLimit: Nullable(Type.Integer({ description: 'A container\'s process limit; null: none.' })),
    cpuLimitPercent: Nullable(Type.Integer({ description: 'Host CPU cap, 100 = one core; null: none.' })),
    host: Nullable(Type.String({ description: 'Name of the host the VM is on.' })),
    movingTo: Nullable(Type.String({ description: 'Name of the host a live migration in flight is moving the VM to; it holds room there until the move ends.' })),
    state: StringEnum(VM_STATES),
    desiredState: StringEnum(['running', 'stopped'] as const),
    guestReady: Type.Boolean(),
    crashReason: Nullable(Type.String()),
    image: Nullable(Type.String()),
    cpus: Type.Integer(),
    cpuModel: Type.String({ description: 'The CPU model the guest sees: the cluster baseline when the VM was created.' }),
    memoryMiB: Type.Integer(),
    devices: StringEnum(DEVICE_MODELS),
    disks: Type.Array(VmDiskSchema),
    macs: Type.Array(Type.String()),
    ips: Type.Array(Type.String(), { description: 'Guest IP addresses, as its guest agent reports them.' }),
    nics: Type.Array(VmNicSchema),
    pid: Nullable(Type.Integer()),
    ha: Type.Union([HaPolicySchema, Type.Null()], { description: 'HA protection; null: not protected.' }),
    pool: StringEnum(['local', 'shared'] as const, { description: 'Where the disks live: the host\'s own directory or shared storage.' }),
    placement: Type.Object(
      { requiredTags: Type.Array(Type.String()), affinityGroups: Type.Array(Type.String()), antiAffinityGroups: Type.Array(Type.String()) },
      { additionalProperties: false, description: 'The rules the scheduler keeps for this VM.' },
    ),
    startedAt: Nullable(TimestampSchema),
    createdAt: TimestampSchema,
    updatedAt: TimestampSchema,
  },
  { additionalProperties: false },
);
export type VmWire = Static<typeof VmSchema>;

export const VmListSchema = Type.Object(
  {
    vms: Type.Array(VmSchema),
    next: Nullable(Type.String({ description: 'Pass as `after` for the next page; null on the last page (always null without `limit`).' })),
  },
  { additionalProperties: false },
);

/** The most VMs one page of GET /vms holds. */
export const VM_PAGE_MAX = 1000;

/** Query of GET /api/v1/vms: a page (by name) and its filters; without `limit`, every VM that matches. */
export const VmListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: VM_PAGE_MAX, description: `At most this many VMs (1-${VM_PAGE_MAX}); default: all of them.` })),
    after: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'The `next` of the previous page: VMs after it, by name.' })),
    host: Type.Optional(NameSchema),
    state: Type.Optional(StringEnum(VM_STATES)),
    type: Type.Optional(StringEnum(GUEST_TYPES)),
  },
  { additionalProperties: false },
);
export type VmListQuery = Static<typeof VmListQuery>;

/** What a long VM action answers with (202): the operation to follow, and the VM as it is now. */
export const VmOperationSchema = Type.Object({ operation: OperationSchema, vm: VmSchema }, { additionalProperties: false });

export const StopQuery = Type.Object(
  { timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000, description: 'Grace before a forced stop; default 60 s.' })) },
  { additionalProperties: false },
);
export const DeleteQuery = Type.Object(
  { force: Type.Optional(Type.Boolean({ description: 'Kill a running VM first.' })) },
  { additionalProperties: false },
);
export const WaitReadyBody = Type.Object(
  { timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000, default: 120_000 })) },
  { additionalProperties: false },
);

export const ExecBody = Type.Object(
  {
    command: Type.String({ minLength: 1, maxLength: 4096 }),
    args: Type.Optional(Type.Array(Type.String({ maxLength: 65536 }), { maxItems: 256 })),
    input: Type.Optional(Type.String({ maxLength: 1024 * 1024 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);
export const ExecResultSchema = Type.Object(
  { exitCode: Type.Integer(), stdout: Type.String(), stderr: Type.String(), signal: Type.Optional(Type.Integer()) },
  { additionalProperties: false },
);

export const CloneBody = Type.Object(
  { name: NameSchema, mode: Type.Optional(StringEnum(['linked', 'full'] as const, { description: 'Default full.' })) },
  { additionalProperties: false },
);

export const SnapshotSchema = Type.Object(
  { name: Type.String(), createdAt: Type.String(), vmStateSizeBytes: Type.Integer() },
  { additionalProperties: false },
);
export const SnapshotListSchema = Type.Object({ snapshots: Type.Array(SnapshotSchema) }, { additionalProperties: false });
export const CreateSnapshotBody = Type.Object({ name: NameSchema }, { additionalProperties: false });
export const SnapshotOperationSchema = Type.Object({ operation: OperationSchema }, { additionalProperties: false });

/** Body of POST /api/v1/vms/:name/migrate. */
export const MigrateVmBody = Type.Object(
  {
    to: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'The host to move the VM to; default: the host the scheduler recommends (see migration-targets).' })),
    storage: Type.Optional(
      StringEnum(['local', 'shared', 'copy'] as const, {
        description:
          'The pool the disks go to. local: the destination\'s own storage (the disks are mirrored during the migration); shared: the shared pool, for a VM already in it; copy: the older name of local. Default: shared for a VM in the shared pool, else local.',
      }),
    ),
    downtimeLimitMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000, description: 'Longest pause allowed at switchover.' })),
    bandwidthMbps: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Cap for the copy, megabits per second.' })),
  },
  { additionalProperties: false },
);
export type MigrateVmBody = Static<typeof MigrateVmBody>;

/** One stay of a VM on a host. */
export const PlacementSchema = Type.Object(
  {
    id: Type.String(),
    vm: Type.String(),
    host: Type.String(),
    hostId: Type.String(),
    startedAt: TimestampSchema,
    endedAt: Nullable(TimestampSchema),
    reason: StringEnum(['user', 'scheduler', 'balancer', 'maintenance', 'ha'] as const),
    actor: Type.String(),
    operationId: Nullable(Type.String()),
    detail: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type PlacementWire = Static<typeof PlacementSchema>;

/** Answer of GET /api/v1/vms/:name/history: newest first. */
export const PlacementHistorySchema = Type.Object({ placements: Type.Array(PlacementSchema) }, { additionalProperties: false });
/** Query of GET /api/v1/vms/:name/where: the time to ask about, default now. */
export const WhereQuery = Type.Object({ at: Type.Optional(TimestampSchema) }, { additionalProperties: false });

/** Query of GET /api/v1/vms/:name/migration-targets. */
export const MigrationTargetsQuery = Type.Object(
  { storage: Type.Optional(StringEnum(['local', 'shared', 'copy'] as const, { description: 'The pool the disks would go to (local, shared; copy is the older name of local); default: shared for a VM in the shared pool, else local.' })) },
  { additionalProperties: false },
);

/** One host judged as a live-migration destination. */
export const MigrationTargetSchema = Type.Object(
  {
    host: Type.String(),
    suitable: Type.Boolean({ description: 'True when every placement filter passes.' }),
    reasons: Type.Array(Type.String(), { description: 'Why the host is refused, one sentence per refusing filter; empty when suitable.' }),
    score: Type.Optional(Type.Number({ description: 'The cluster weight\'s score after the move (higher is better); only for suitable hosts.' })),
    recommended: Type.Boolean({ description: 'True for the one host the scheduler would pick.' }),
  },
  { additionalProperties: false },
);
export type MigrationTargetWire = Static<typeof MigrationTargetSchema>;

/** Answer of GET /api/v1/vms/:name/migration-targets: every host but the VM's own. */
export const MigrationTargetListSchema = Type.Object({ items: Type.Array(MigrationTargetSchema) }, { additionalProperties: false });
