/**
 * The shapes the console works with, each with the parser that produces it from the controller's
 * JSON (the wire schemas are in src/controller/<domain>/schema.ts and /openapi.json).
 */
import { array, boolean, nullable, number, object, oneOf, optional, record, string, unknown, withDefault, type Parsed, type Parser } from './parse';

export const VM_STATES = ['creating', 'stopped', 'starting', 'running', 'stopping', 'paused', 'crashed', 'error', 'deleting'] as const;
export type VmState = (typeof VM_STATES)[number];

/** vm: a QEMU virtual machine; container: a system container (runc). Both are the one API resource /vms. */
export const GUEST_TYPES = ['vm', 'container'] as const;
export type GuestType = (typeof GUEST_TYPES)[number];

export const parseVm = object({
  id: string,
  name: string,
  // Controllers from before containers leave out these four: everything they list is a VM, unlimited.
  type: withDefault(oneOf(GUEST_TYPES), 'vm'),
  /** A container without a user namespace: root inside is root on the host. */
  privileged: withDefault(boolean, false),
  /** A container's process limit; null: none. */
  pidsLimit: withDefault(nullable(number), null),
  /** Host CPU cap, 100 = one core; null: none. */
  cpuLimitPercent: withDefault(nullable(number), null),
  host: nullable(string),
  /** The host a live migration in flight is moving the VM to (it holds room there until the move ends); null when not moving. */
  movingTo: nullable(string),
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
  /** Every NIC: the default user-mode one, bridges, and NICs on virtual networks with the address Drover assigned. */
  nics: array(object({ name: string, mode: oneOf(['user', 'bridge', 'network'] as const), network: string, mac: string, address: nullable(string) })),
  pid: nullable(number),
  pool: oneOf(['local', 'shared'] as const),
  cpuModel: nullable(string),
  placement: object({ requiredTags: array(string), affinityGroups: array(string), antiAffinityGroups: array(string) }),
  /** HA protection: restarted on another host when its host fails; null when not protected. */
  ha: nullable(object({ priority: number, isolation: string, monitoring: boolean })),
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
  /** Storage pools the agent proved it reaches (its own local pool, a shared one). */
  pools: array(object({ name: string, kind: string })),
  /** CPU models the host can present to guests; "*" means any. */
  cpuModels: array(string),
  /** The fence device that can power the host off (its agent program); null when none is set. */
  fence: nullable(object({ agent: string, setAt: string })),
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
  /** Which guests the image makes: a VM's disk or a container's root filesystem; controllers from before container images list VM images only. */
  type: withDefault(oneOf(GUEST_TYPES), 'vm'),
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
  /** Default vm; a container needs a container image. */
  type?: GuestType;
  image?: string;
  /** Containers only: no user namespace (root inside is root on the host). */
  privileged?: boolean;
  /** Containers only: most processes and threads at once (8..4194304). */
  pidsLimit?: number;
  /** Containers only: swap on top of memory, MiB; default 0. */
  swapMiB?: number;
  /** Host CPU cap, 100 = one core (1..6400). */
  cpuLimitPercent?: number;
  cpus?: number;
  memoryMiB?: number;
  diskGiB?: number;
  devices?: 'virtio' | 'emulated';
  start?: boolean;
  /** Where the disks live; default local. */
  pool?: 'local' | 'shared';
  /** The host to place the VM on; absent: the scheduler picks. */
  host?: string;
  placement?: { requiredTags?: string[]; affinityGroups?: string[]; antiAffinityGroups?: string[] };
  /** NICs on virtual networks; the controller picks a free address unless one is named. */
  networks?: Array<{ network: string; address?: string }>;
}

/** Body of PATCH /api/v1/vms/:name/limits: a field given changes, null removes that limit; at least one field. */
export interface VmLimitsChange {
  /** Host CPU cap, 100 = one core (1..6400); live. */
  cpuLimitPercent?: number | null;
  /** Live for a container; a VM takes it only while stopped. */
  memoryMiB?: number;
  /** Containers only (8..4194304); live. */
  pidsLimit?: number | null;
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

/**
 * What a placement row records besides host and time: why the host won (the scheduler's reason, or
 * "named by the caller") and the hosts the filters refused; a move adds where it came from. Older
 * rows hold none of it, so every field is optional.
 */
export const parsePlacementDetail: Parser<PlacementDetail> = (value, path) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return object({
    why: optional(string),
    from: optional(string),
    storage: optional(string),
    refused: optional(array(object({ host: string, reasons: array(string) }))),
  })(value, path);
};
export interface PlacementDetail {
  why?: string | undefined;
  from?: string | undefined;
  storage?: string | undefined;
  refused?: Array<{ host: string; reasons: string[] }> | undefined;
}

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
  detail: parsePlacementDetail,
});
export type Placement = Parsed<typeof parsePlacement>;
export const parsePlacementHistory = object({ placements: array(parsePlacement) });

/** The pre-flight report of maintenance mode: where each VM would go, and which cannot move and why. */
export const parseEvacuationPlan = object({
  host: string,
  complete: boolean,
  totalCostBytes: number,
  moves: array(object({ vm: string, to: string, reason: string, storage: string, memoryBytes: number, diskBytes: number, costBytes: number, restart: withDefault(boolean, false) })),
  unmovable: array(object({ vm: string, reason: string, refusals: array(object({ host: string, filter: string, reason: string })) })),
});
export type EvacuationPlan = Parsed<typeof parseEvacuationPlan>;
/** Answer of POST /hosts/:name/maintenance/enter: the plan, and the evacuate operation unless it was a dry run. */
export const parseMaintenanceEntry = object({ plan: parseEvacuationPlan, operation: nullable(parseOperation) });
export type MaintenanceEntry = Parsed<typeof parseMaintenanceEntry>;

/** A virtual network (GET /networks): a bridge plus VXLAN on every host with a VM on it, and the VM NICs on it. */
export const parseNetwork = object({
  id: string,
  name: string,
  subnet: string,
  vni: number,
  mtu: number,
  bridge: string,
  members: array(object({ vm: string, host: nullable(string), mac: string, address: string })),
  createdAt: string,
  updatedAt: string,
});
export type Network = Parsed<typeof parseNetwork>;
export const parseNetworkList = object({ networks: array(parseNetwork) });

/** Body of POST /api/v1/networks. */
export interface CreateNetworkRequest {
  name: string;
  /** IPv4 CIDR, /8 to /29. */
  subnet: string;
  vni?: number;
  mtu?: number;
}

export const CLUSTER_WEIGHTS = ['spread', 'pack'] as const;
export type ClusterWeight = (typeof CLUSTER_WEIGHTS)[number];

/**
 * The scheduler's policy (GET/PUT /cluster/policy): where new VMs go, the baseline CPU model every
 * VM gets, and HA admission control (how many failed hosts the HA VMs must survive; 0 is off).
 */
export const parseClusterPolicy = object({ weight: oneOf(CLUSTER_WEIGHTS), cpuModel: string, haHostFailures: number });
export type ClusterPolicy = Parsed<typeof parseClusterPolicy>;

/** A balancing plan: the moves that even out host load, and the imbalance before and after (ratio points). */
export const parseBalancePlan = object({
  threshold: number,
  imbalanceBefore: number,
  imbalanceAfter: number,
  balanced: boolean,
  totalCostBytes: number,
  stopReason: string,
  moves: array(object({ vm: string, from: string, to: string, reason: string, costBytes: number, restart: withDefault(boolean, false) })),
});
export type BalancePlan = Parsed<typeof parseBalancePlan>;
/** Answer of POST /balance: the plan, and the balance operation unless it was a dry run. */
export const parseBalanceRun = object({ plan: parseBalancePlan, operation: nullable(parseOperation) });

/** When the balancer runs by itself (GET/PUT /balance/schedule; stored with the cluster settings). */
export const parseBalanceSchedule = object({ enabled: boolean, intervalMinutes: number, threshold: number });
export type BalanceSchedule = Parsed<typeof parseBalanceSchedule>;

/**
 * A host's liveness as HA judges it. suspect: its lease renewals are late (reported, nothing
 * else); isolated: no lease but its storage heartbeat is fresh (alive, cut off from the
 * controller); failed: neither; fenced: powered off by its fence device; confirmed-down: an
 * administrator stated it is off; unknown: not judged yet.
 */
export const HOST_LIVENESS = ['ok', 'suspect', 'isolated', 'failed', 'fenced', 'confirmed-down', 'unknown'] as const;
export type HostLiveness = (typeof HOST_LIVENESS)[number];

/** What a host cut off from the controller (but alive) does with an HA VM. */
export const HA_ISOLATION_RESPONSES = ['keep-running', 'power-off'] as const;
export type HaIsolationResponse = (typeof HA_ISOLATION_RESPONSES)[number];

/**
 * GET /ha/status: each host's lease, storage heartbeat and fencing; each protected VM's failover
 * phase (protected, waiting, queued, starting, started, failed) and generation; the admission
 * figures; the timings HA runs with (milliseconds, by name). Liveness, isolation, phase and fence
 * stay strings, so a value a newer controller adds shows as it is instead of failing the page.
 */
export const parseHaStatus = object({
  hosts: array(
    object({
      name: string,
      liveness: string,
      reason: string,
      leaseAgeMs: nullable(number),
      storageHeartbeatAgeMs: nullable(number),
      watchdog: boolean,
      fenceDevice: boolean,
      /** none, in-progress, fenced, or "failed: why". */
      fence: string,
    }),
  ),
  vms: array(
    object({
      name: string,
      host: nullable(string),
      priority: number,
      isolation: string,
      phase: string,
      generation: number,
      /** While waiting: what for, as a code. */
      waiting: optional(string),
      failedReason: optional(string),
    }),
  ),
  admission: object({ haHostFailures: number, admitted: boolean, reason: string }),
  timings: record(number),
});
export type HaStatus = Parsed<typeof parseHaStatus>;
export type HaHostStatus = HaStatus['hosts'][number];
export type HaVmStatus = HaStatus['vms'][number];

/** GET /cluster/controllers: every controller serving the cluster, by public URL; `self` is the one that answered. */
export const parseControllerList = object({ controllers: array(object({ url: string, self: boolean })) });
export type ControllerEndpoint = Parsed<typeof parseControllerList>['controllers'][number];

/** Answer of POST /hosts/:name/confirm-down (202). */
export const parseConfirmDown = object({ host: string, accepted: boolean });

/** The HA policy in PATCH /vms/:name: fields left out keep their value (or the default when HA is switched on). */
export interface HaPolicyChange {
  /** 1 (restarts last) to 5 (first); default 3. */
  priority?: number;
  isolation?: HaIsolationResponse;
  /** Reset the guest when its guest agent stops answering. */
  monitoring?: boolean;
}
