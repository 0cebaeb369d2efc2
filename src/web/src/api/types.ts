/**
 * The shapes the console works with, each with the parser that produces it from the controller's
 * JSON (the wire schemas are in src/controller/<domain>/schema.ts and /openapi.json).
 */
import { array, boolean, nullable, number, object, oneOf, optional, record, string, unknown, type Parsed, type Parser } from './parse';

export const VM_STATES = ['creating', 'stopped', 'starting', 'running', 'stopping', 'paused', 'crashed', 'error', 'deleting'] as const;
export type VmState = (typeof VM_STATES)[number];

export const parseVm = object({
  id: string,
  name: string,
  host: nullable(string),
  state: oneOf(VM_STATES),
  desiredState: oneOf(['running', 'stopped'] as const),
  guestReady: boolean,
  crashReason: nullable(string),
  image: nullable(string),
  cpus: number,
  memoryMiB: number,
  devices: oneOf(['virtio', 'emulated'] as const),
  disks: array(object({ name: string, sizeBytes: number, readOnly: boolean })),
  macs: array(string),
  ips: array(string),
  pid: nullable(number),
  startedAt: nullable(string),
  createdAt: string,
  updatedAt: string,
});
export type Vm = Parsed<typeof parseVm>;
export const parseVmList = object({ vms: array(parseVm) });

const resources = object({ cpus: number, memoryBytes: number, diskBytes: number });

/** Host tags as `key → value` (a plain tag has ""); a list of plain tags is read the same way. */
const tags: Parser<Record<string, string>> = (value, path) =>
  Array.isArray(value) ? Object.fromEntries(array(string)(value, path).map((tag) => [tag, ''])) : record(string)(value, path);

export const parseHost = object({
  id: string,
  name: string,
  address: string,
  version: string,
  accelerator: string,
  acceleratorReason: nullable(string),
  state: string,
  health: string,
  lastHeartbeat: nullable(string),
  capacity: resources,
  usage: resources,
  // Placement labels and overcommit arrive with the cluster work; older controllers leave them out.
  tags: optional(tags),
  cpuOvercommit: optional(number),
  memoryOvercommit: optional(number),
  vmCount: number,
  unmanagedVms: array(object({ name: string, state: string, pid: optional(number), seenSince: string })),
});
export type Host = Parsed<typeof parseHost>;
export const parseHostList = object({ hosts: array(parseHost) });

export const parseEvent = object({
  id: number,
  time: string,
  actor: string,
  object: object({ type: string, id: nullable(string), name: nullable(string) }),
  action: string,
  hostId: nullable(string),
  result: string,
  requestId: nullable(string),
  detail: unknown,
});
export type DroverEvent = Parsed<typeof parseEvent>;
export const parseEventList = object({ events: array(parseEvent) });

export const OPERATION_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type OperationState = (typeof OPERATION_STATES)[number];
export const FINISHED_STATES: readonly OperationState[] = ['succeeded', 'failed', 'cancelled'];

export const parseOperation = object({
  id: string,
  kind: string,
  target: object({ type: string, id: string, name: nullable(string) }),
  hostId: nullable(string),
  state: oneOf(OPERATION_STATES),
  progress: number,
  message: string,
  steps: array(object({ name: string, state: string, error: optional(string) })),
  result: unknown,
  error: nullable(
    object({
      code: string,
      message: string,
      detail: optional(string),
      undoFailures: optional(array(object({ step: string, message: string }))),
    }),
  ),
  actor: string,
  cancelRequested: boolean,
  createdAt: string,
  updatedAt: string,
});
export type Operation = Parsed<typeof parseOperation>;
export const parseOperationList = object({ operations: array(parseOperation) });

/** What a long VM action answers (202). */
export const parseVmAccepted = object({ operation: parseOperation, vm: parseVm });
export const parseOperationAccepted = object({ operation: parseOperation });

export const parseSnapshot = object({ name: string, createdAt: string, vmStateSizeBytes: number });
export type Snapshot = Parsed<typeof parseSnapshot>;
export const parseSnapshotList = object({ snapshots: array(parseSnapshot) });

export const parseImage = object({
  name: string,
  host: string,
  format: string,
  sourceFormat: string,
  virtualSizeBytes: number,
  actualSizeBytes: number,
  sha256: string,
  createdAt: string,
  osNotes: string,
});
export type Image = Parsed<typeof parseImage>;
export const parseImageList = object({ images: array(parseImage) });

const column = array(nullable(number));
export const parseVmMetrics = object({
  vm: string,
  retentionSeconds: number,
  time: array(number),
  cpuPercent: column,
  memoryBytes: column,
  diskReadBytesPerSecond: column,
  diskWriteBytesPerSecond: column,
  networkReceiveBytesPerSecond: column,
  networkTransmitBytesPerSecond: column,
});
export type VmMetrics = Parsed<typeof parseVmMetrics>;

export const parseErrorBody = object({ code: string, message: string, detail: optional(string), field: optional(string) });

/** Body of POST /api/v1/vms (the fields the console sets). */
export interface CreateVmRequest {
  name: string;
  image?: string;
  cpus?: number;
  memoryMiB?: number;
  diskGiB?: number;
  devices?: 'virtio' | 'emulated';
  start?: boolean;
}

/** Filters of GET /api/v1/events. */
export interface EventQuery {
  vm?: string;
  host?: string;
  actor?: string;
  since?: string;
  until?: string;
  beforeId?: number;
  limit?: number;
}

/** One host a VM could move to, as GET /vms/:name/migration-targets judges it: unsuitable ones say why. */
export const parseMigrationTarget = object({
  host: string,
  suitable: boolean,
  reasons: array(string),
  score: optional(number),
  recommended: boolean,
});
export type MigrationTarget = Parsed<typeof parseMigrationTarget>;
export const parseMigrationTargetList = object({ items: array(parseMigrationTarget) });

/** Body of POST /api/v1/vms/:name/migrate. */
export interface MigrateVmRequest {
  to: string;
  /** The pool the disks go to; copy is the older name of local. */
  storage?: 'local' | 'shared' | 'copy';
  /** Longest pause allowed at switchover (1..60000). */
  downtimeLimitMs?: number;
  /** Cap for the copy, megabits per second (1..1000000). */
  bandwidthMbps?: number;
}

export const PLACEMENT_REASONS = ['user', 'scheduler', 'balancer', 'maintenance', 'ha'] as const;

/** One stay of a VM on a host (GET /vms/:name/history, newest first). */
export const parsePlacement = object({
  id: string,
  vm: string,
  host: string,
  hostId: string,
  startedAt: string,
  endedAt: nullable(string),
  reason: oneOf(PLACEMENT_REASONS),
  actor: string,
  operationId: nullable(string),
  detail: unknown,
});
export type Placement = Parsed<typeof parsePlacement>;
export const parsePlacementHistory = object({ placements: array(parsePlacement) });

/** The pre-flight report of maintenance mode: where each VM would go, and which cannot move and why. */
export const parseEvacuationPlan = object({
  host: string,
  complete: boolean,
  totalCostBytes: number,
  moves: array(object({ vm: string, to: string, reason: string, storage: string, memoryBytes: number, diskBytes: number, costBytes: number })),
  unmovable: array(object({ vm: string, reason: string, refusals: array(object({ host: string, filter: string, reason: string })) })),
});
export type EvacuationPlan = Parsed<typeof parseEvacuationPlan>;
/** Answer of POST /hosts/:name/maintenance/enter: the plan, and the evacuate operation unless it was a dry run. */
export const parseMaintenanceEntry = object({ plan: parseEvacuationPlan, operation: nullable(parseOperation) });
export type MaintenanceEntry = Parsed<typeof parseMaintenanceEntry>;
