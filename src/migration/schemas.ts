/**
 * The wire types of live migration between host agents: what the source asks of the destination, what the
 * controller asks of the source, and how a migration is shown. One TypeBox schema gives type and validation.
 */
import { Type, type Static } from '@fastify/type-provider-typebox';
import { FIRMWARE_PATTERN } from '../drivers/qemu/cmdline.js';
import { BootSpec, CPU_MODEL_PATTERN, CpuModel, DeviceModel, DiskThrottle, NicSpec } from '../vms/spec.js';
import type { VmRecord } from '../vms/records.js';

/** 'shared': both hosts open the same disk files. 'copy': the disks are mirrored to the destination over NBD. */
export const StorageMode = Type.Union([Type.Literal('shared'), Type.Literal('copy')]);
export type StorageMode = Static<typeof StorageMode>;

const VmName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' });
const MigrationId = Type.String({ pattern: '^[0-9a-f-]{36}$' });
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });

/** A VM record as it travels from source to destination: the same shape as VmRecord in vms/records.ts. */
export const VmRecordWire = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z0-9-]{1,64}$' }),
    name: VmName,
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
    cpus: Type.Integer({ minimum: 1, maximum: 64 }),
    cpuModel: Type.Optional(CpuModel),
    memoryMiB: Type.Integer({ minimum: 32, maximum: 1024 * 1024 }),
    devices: DeviceModel,
    disks: Type.Array(
      Type.Object(
        {
          name: VmName,
          // A plain file name: the destination joins it to a directory of its own choosing.
          file: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$' }),
          sizeBytes: Type.Integer({ minimum: 0 }),
          readOnly: Type.Optional(Type.Boolean()),
          throttle: Type.Optional(DiskThrottle),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 8 },
    ),
    nics: Type.Array(NicSpec, { maxItems: 8 }),
    boot: Type.Optional(BootSpec),
    cpuPinning: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 4095 }), { minItems: 1, maxItems: 64 })),
    cpuLimitPercent: Type.Optional(Type.Integer({ minimum: 1, maximum: 6400 })),
    vnc: Type.Optional(Type.Boolean()),
    freePageReporting: Type.Optional(Type.Boolean()),
    storageDir: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    haGeneration: Type.Optional(Type.Integer({ minimum: 1 })),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);
export type VmRecordWire = Static<typeof VmRecordWire>;

/** A received record as the host's own type (the compiler keeps the two shapes in step). */
export function recordFromWire(wire: VmRecordWire): VmRecord {
  return wire;
}

/** A host's record as it is sent (the compiler keeps the two shapes in step). */
export function recordToWire(record: VmRecord): VmRecordWire {
  return record;
}

/** What the source's QEMU really runs: the destination must run the same to accept the state. */
export const RuntimeIdentity = Type.Object(
  {
    machineType: Type.String({ pattern: '^[a-z][a-z0-9._-]{0,63}$' }),
    cpuModel: Type.String({ pattern: CPU_MODEL_PATTERN }),
    accelerator: Type.Union([Type.Literal('kvm'), Type.Literal('tcg')]),
    qemuVersion: Type.String({ maxLength: 64 }),
    firmware: Type.Optional(
      Type.String({ pattern: FIRMWARE_PATTERN, description: 'The firmware file QEMU started with; absent from agents that predate it, which ran SeaBIOS.' }),
    ),
  },
  { additionalProperties: false },
);
export type RuntimeIdentity = Static<typeof RuntimeIdentity>;

/** A library image by name and content, so the destination can use its own identical copy. */
export const ImageRef = Type.Object({ name: Type.String({ minLength: 1, maxLength: 63 }), sha256: Sha256 }, { additionalProperties: false });
export type ImageRef = Static<typeof ImageRef>;

/** Body of POST /api/v1/migrations/incoming (source agent → destination agent). */
export const IncomingRequest = Type.Object(
  {
    migrationId: MigrationId,
    vm: VmRecordWire,
    storage: StorageMode,
    source: RuntimeIdentity,
    /** The image the VM boots its kernel from (when it has boot files). */
    bootImage: Type.Optional(ImageRef),
    /** For 'copy': each disk's virtual size, and the base image its top layer sits on when there is exactly one. */
    disks: Type.Array(
      Type.Object({ name: VmName, virtualSizeBytes: Type.Integer({ minimum: 1 }), base: Type.Optional(ImageRef) }, { additionalProperties: false }),
      { maxItems: 8 },
    ),
    postcopy: Type.Boolean(),
    /** When the guest started on its first host: the destination reports it as its own, so uptime goes on. */
    guestStartedAt: Type.Optional(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$' })),
    /** Run the guest on finish (false when it was paused on the source). */
    resume: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type IncomingRequest = Static<typeof IncomingRequest>;

/** Answer to POST /api/v1/migrations/incoming: where to send the state and, for 'copy', the disks. */
export const IncomingPlan = Type.Object({
  migrationId: Type.String(),
  migrationUri: Type.String(),
  disks: Type.Array(Type.Object({ name: Type.String(), nbdUri: Type.String(), sync: Type.Union([Type.Literal('top'), Type.Literal('full')]) })),
});
export type IncomingPlan = Static<typeof IncomingPlan>;

/** Body of POST /api/v1/vms/:name/migrate (controller → source agent). */
export const MigrateRequest = Type.Object(
  {
    destination: Type.Object(
      { agentUrl: Type.String({ pattern: '^https?://', maxLength: 2048 }), token: Type.String({ minLength: 1, maxLength: 512 }) },
      { additionalProperties: false },
    ),
    storage: StorageMode,
    downtimeLimitMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000, description: 'Longest pause allowed at switchover; QEMU default 300.' })),
    bandwidthMbps: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Cap for RAM and disk copy, megabits per second.' })),
    autoConverge: Type.Optional(Type.Boolean({ description: 'Throttle a guest that dirties memory faster than it is sent (default true).' })),
    postcopy: Type.Optional(Type.Boolean({ description: 'Allow switching to post-copy so a busy guest finishes (default true).' })),
    stallTimeoutMs: Type.Optional(Type.Integer({ minimum: 1_000, maximum: 3_600_000, description: 'Roll back when no memory or disk data has moved for this long before switchover (default 20 s): a dropped network blocks rather than fails.' })),
    postcopyAfterPasses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Switch to post-copy after this many RAM passes (default 8).' })),
  },
  { additionalProperties: false },
);
export type MigrateRequest = Static<typeof MigrateRequest>;

/**
 * Outgoing: preparing → [mirroring] → migrating → [postcopy] → switching-over → completed; on error or cancel before
 * switchover: rolling-back → failed | cancelled; a lost answer at switchover: unresolved.
 * Incoming: receiving → completed | failed | cancelled.
 */
export const MigrationState = Type.Union([
  Type.Literal('preparing'),
  Type.Literal('mirroring'),
  Type.Literal('migrating'),
  Type.Literal('postcopy'),
  Type.Literal('switching-over'),
  Type.Literal('rolling-back'),
  Type.Literal('receiving'),
  Type.Literal('completed'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
  Type.Literal('unresolved'),
]);
export type MigrationState = Static<typeof MigrationState>;

/** Where a migration is now: RAM figures from query-migrate, disk figures from the mirror jobs. */
export const MigrationProgress = Type.Object({
  qemuStatus: Type.Optional(Type.String()),
  pass: Type.Integer(),
  ramTransferredBytes: Type.Integer(),
  ramRemainingBytes: Type.Integer(),
  ramTotalBytes: Type.Integer(),
  dirtyPagesRate: Type.Integer({ description: 'Pages the guest dirties per second.' }),
  mbps: Type.Number(),
  cpuThrottlePercent: Type.Integer(),
  expectedDowntimeMs: Type.Optional(Type.Integer()),
  postcopy: Type.Boolean(),
  disks: Type.Array(Type.Object({ name: Type.String(), copiedBytes: Type.Integer(), totalBytes: Type.Integer(), ready: Type.Boolean() })),
});
export type MigrationProgress = Static<typeof MigrationProgress>;

/** QEMU's own statistics for a finished migration. */
export const MigrationResult = Type.Object({
  totalTimeMs: Type.Integer(),
  downtimeMs: Type.Integer(),
  setupTimeMs: Type.Integer(),
  ramTransferredBytes: Type.Integer(),
  passes: Type.Integer(),
  postcopy: Type.Boolean(),
  /** The most auto-converge slowed the guest's CPUs down during the migration. */
  maxCpuThrottlePercent: Type.Integer(),
  /** From the source seeing the switchover to the destination confirming the guest runs (mirrors, finish); adds to downtime. */
  handoverMs: Type.Optional(Type.Integer()),
  /**
   * From the source QEMU pausing the guest (its STOP event) to the destination confirming the guest runs there: the
   * whole time the guest stood still, as an upper bound (it ends when the answer arrives). Absent when unknown.
   */
  pausedMs: Type.Optional(Type.Integer()),
});
export type MigrationResult = Static<typeof MigrationResult>;

/** A migration as GET /api/v1/migrations/:id shows it, on either host. */
export const MigrationView = Type.Object({
  id: Type.String(),
  direction: Type.Union([Type.Literal('outgoing'), Type.Literal('incoming')]),
  vm: Type.Object({ id: Type.String(), name: Type.String() }),
  storage: StorageMode,
  state: MigrationState,
  /** The destination agent's URL (outgoing) or the address the source connects from (incoming). */
  peer: Type.String(),
  startedAt: Type.String(),
  finishedAt: Type.Optional(Type.String()),
  progress: MigrationProgress,
  result: Type.Optional(MigrationResult),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), detail: Type.Optional(Type.String()) })),
});
export type MigrationView = Static<typeof MigrationView>;
