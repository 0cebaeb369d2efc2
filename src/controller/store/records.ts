/**
 * The shapes the controller persists. These are internal records, not wire types: each domain's
 * `schema.ts` defines what the API shows and maps records to it. JSON columns (capacity, spec,
 * disks...) can gain optional fields without a migration; renaming or removing one needs one.
 */

/** A value that survives a JSON round trip unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Timestamps are ISO 8601 UTC strings with milliseconds, so they sort as text. */
export type Timestamp = string;

export interface HostResources {
  cpus: number;
  memoryBytes: number;
  diskBytes: number;
}

export type HostState = 'joining' | 'ready' | 'maintenance' | 'offline';
export type HostHealth = 'unknown' | 'healthy' | 'degraded' | 'unreachable';

export interface HostRecord {
  id: string;
  name: string;
  address: string;
  version: string;
  accelerator: string;
  capacity: HostResources;
  usage: HostResources;
  health: HostHealth;
  lastHeartbeat: Timestamp | null;
  state: HostState;
  /** The bearer token the controller presents to this host's agent. */
  credential: string | null;
  /** Labels for placement: `key=value` or a plain `key`, each at most once. */
  tags: HostTags;
  /** How many vCPUs may be placed per physical CPU (1.0 = no overcommit). */
  cpuOvercommit: number;
  /** How much VM memory may be placed per byte of host memory (1.0 = no overcommit). */
  memoryOvercommit: number;
  /** The storage pools the host's agent reported it reaches (empty until it reports). */
  pools: HostPoolRecord[];
  /** The CPU models the host can present to guests; `*` means any (empty until it reports). */
  cpuModels: string[];
  /** The device that powers the host off before HA restarts its VMs elsewhere; null when none is set. */
  fenceDevice: FenceDeviceRecord | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/**
 * A host's fence device: a ClusterLabs fence agent and the options it gets on stdin. The options
 * hold the device's secrets (password...) as the agent needs them, like `credential` above; the
 * API and events only ever show them redacted.
 */
export interface FenceDeviceRecord {
  agent: string;
  options: Record<string, string>;
  setAt: Timestamp;
  /** The name of the actor who set it. */
  setBy: string;
}

/** A storage pool a host reaches: its own `local` one, or a `shared` one named by the identity in its marker file. */
export interface HostPoolRecord {
  name: string;
  kind: 'local' | 'shared';
}

/** A host's tags: `zone=a`, `ssd`. */
export type HostTags = string[];

/** A one-time token that lets one agent join. Only its hash is stored. */
export interface JoinTokenRecord {
  id: string;
  /** sha256 of the secret, hex. */
  hash: string;
  /** Who minted it (a token name). */
  createdBy: string;
  createdAt: Timestamp;
  expiresAt: Timestamp;
  /** When it was consumed; null while unused. */
  usedAt: Timestamp | null;
  /** The host that joined with it. */
  usedByHostId: string | null;
}

export type ImageFormat = 'qcow2' | 'raw' | 'vmdk' | 'vhdx';
export type ImageState = 'importing' | 'ready' | 'error';

export interface ImageRecord {
  id: string;
  name: string;
  format: ImageFormat;
  sizeBytes: number;
  /** sha256 of the image file, hex; null until the import has computed it. */
  checksum: string | null;
  source: string | null;
  state: ImageState;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export type VmState = 'creating' | 'stopped' | 'starting' | 'running' | 'stopping' | 'paused' | 'crashed' | 'error' | 'deleting';
export type VmDesiredState = 'running' | 'stopped';

export interface VmSpec {
  /** 'vm' or 'container'; absent: a VM (recorded before containers existed). */
  type?: 'vm' | 'container';
  /** A container without a user namespace; an admin's choice, flagged wherever the VM is shown. */
  privileged?: boolean;
  /** A container's process limit. */
  pidsLimit?: number;
  /** Host CPU cap, 100 = one core. */
  cpuLimitPercent?: number;
  cpus: number;
  memoryBytes: number;
  imageId: string | null;
  /** Device model: virtio or emulated. */
  devices?: 'virtio' | 'emulated';
  /** Where the disks live: the host's own directory, or storage every host reaches. */
  pool?: 'local' | 'shared';
  /** The CPU model the VM was given (the cluster baseline when it was created); absent: the default baseline. */
  cpuModel?: string;
  /** Rules the scheduler keeps wherever the VM goes; absent means none. */
  placement?: VmPlacementRules;
  /** HA protection: restarted on another host when its host fails; absent means not protected. */
  ha?: VmHaPolicy;
}

/** A VM's HA policy. */
export interface VmHaPolicy {
  /** 1 (restarts last) to 5 (first). */
  priority: 1 | 2 | 3 | 4 | 5;
  /** What an isolated host (alive, cut off from the controller) does with the VM. */
  isolation: 'keep-running' | 'power-off';
  /** Reset the guest when its guest agent stops answering (vSphere's VM Monitoring). */
  monitoring: boolean;
}

/** A VM's placement rules (like vSphere's VM-host and VM-VM rules, named per group). */
export interface VmPlacementRules {
  /** Tags a host must carry, all of them. */
  requiredTags?: string[];
  /** Groups whose members all run on one host. */
  affinityGroups?: string[];
  /** Groups whose members each run on a different host. */
  antiAffinityGroups?: string[];
}

/** What the VM's host last reported about it. */
export interface VmRuntime {
  pid?: number;
  startedAt?: Timestamp;
  guestReady?: boolean;
  crashReason?: string;
  /** Guest IP addresses from its agent. */
  addresses?: string[];
  /** The host's own id for the VM (its directory and QEMU runtime dir). */
  hostVmId?: string;
  /** The HA generation the host runs it at. */
  generation?: number;
}

export interface VmDisk {
  name: string;
  sizeBytes: number;
  format: 'qcow2' | 'raw';
  backingImageId: string | null;
}

export interface VmNic {
  name: string;
  /** The virtual network's name for mode 'network', the bridge for 'bridge', 'user' for user mode. */
  network: string;
  macAddress: string;
  /** Absent on records written before virtual networks: those are 'user' or 'bridge'. */
  mode?: 'user' | 'bridge' | 'network';
  /** The IPv4 address the controller assigned on a virtual network. */
  address?: string;
  /** The NIC's cap in kbit/s, both directions, as its host applies it to the tap; absent: unlimited. */
  rateLimitKbit?: number;
}

/** A controller process serving the API; it refreshes `lastSeenAt` while it lives. */
export interface ControllerRecord {
  /** Stable across restarts of one controller (kept in its data directory). */
  id: string;
  name: string;
  /** Where it serves the API. */
  url: string;
  version: string;
  startedAt: Timestamp;
  lastSeenAt: Timestamp;
}

/**
 * The lease that makes one controller the leader, which alone runs the background work (host
 * judgement, HA, balancing, recovery). `token` grows by one at every change of holder: it is the
 * fencing token a leader's decisions are checked against.
 */
export interface LeaderLeaseRecord {
  holder: string;
  token: number;
  acquiredAt: Timestamp;
  renewedAt: Timestamp;
  expiresAt: Timestamp;
}

/** A virtual network: one L2 segment that spans hosts over VXLAN. */
export interface NetworkRecord {
  id: string;
  name: string;
  /** IPv4 CIDR the controller assigns VM addresses from. */
  subnet: string;
  /** VXLAN network identifier, unique among networks. */
  vni: number;
  mtu: number;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface VmSnapshot {
  name: string;
  createdAt: Timestamp;
}

export interface VmRecord {
  id: string;
  name: string;
  hostId: string | null;
  state: VmState;
  desiredState: VmDesiredState;
  spec: VmSpec;
  disks: VmDisk[];
  nics: VmNic[];
  snapshots: VmSnapshot[];
  runtime: VmRuntime;
  /** The destination host of a live migration in flight, which holds room for the VM until it ends; else null. */
  movingTo: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/** Why a VM was put on a host. */
export type PlacementReason = 'user' | 'scheduler' | 'balancer' | 'maintenance' | 'ha';

/** One stay of a VM on a host; names are copied so the history reads after either is gone. */
export interface PlacementRecord {
  id: string;
  vmId: string;
  vmName: string;
  hostId: string;
  hostName: string;
  startedAt: Timestamp;
  /** Null while the VM is still there. */
  endedAt: Timestamp | null;
  reason: PlacementReason;
  /** Token name, or `system`. */
  actor: string;
  operationId: string | null;
  detail: JsonValue;
}

export type OperationState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const FINISHED_OPERATION_STATES: readonly OperationState[] = ['succeeded', 'failed', 'cancelled'];
export const ACTIVE_OPERATION_STATES: readonly OperationState[] = ['queued', 'running'];

export type OperationStepState = 'pending' | 'running' | 'done' | 'failed' | 'undone' | 'undo-failed';

/** One step of an operation as recorded, so a failed or interrupted operation names what it left behind. */
export interface OperationStepRecord {
  name: string;
  state: OperationStepState;
  error?: string;
}

/** The recorded error of a failed or cancelled operation. */
export interface OperationErrorRecord {
  code: string;
  message: string;
  detail?: string;
  /** Steps whose undo failed; present only when the rollback was incomplete. */
  undoFailures?: { step: string; message: string }[];
}

export interface OperationRecord {
  id: string;
  kind: string;
  targetType: string;
  targetId: string;
  /** The target's name when it has one, so events and listings read `start web`. */
  targetName: string | null;
  /** The host the work runs on, when there is one. */
  hostId: string | null;
  state: OperationState;
  /** 0..1 */
  progress: number;
  message: string;
  steps: OperationStepRecord[];
  result: JsonValue;
  error: OperationErrorRecord | null;
  actor: string;
  cancelRequested: boolean;
  /** The controller running it (its id); null for operations from before several controllers. */
  owner: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export interface EventRecord {
  id: number;
  time: Timestamp;
  /** Token name, or `system` for the controller's own actions. */
  actor: string;
  objectType: string;
  objectId: string | null;
  objectName: string | null;
  action: string;
  hostId: string | null;
  result: string;
  /** The API request that caused the event, when there was one. */
  requestId: string | null;
  detail: JsonValue;
}

export type NewEventRecord = Omit<EventRecord, 'id'>;

export interface TokenRecord {
  id: string;
  name: string;
  /** sha256 of the secret, hex. The secret itself is never stored. */
  hash: string;
  role: string;
  createdAt: Timestamp;
  revokedAt: Timestamp | null;
  lastUsedAt: Timestamp | null;
}

/** Cluster-wide setting names and their values. */
export interface ClusterSettings {
  /** The scheduler's weight: spread VMs out, or pack them onto the fewest hosts. */
  weight: 'spread' | 'pack';
  /** The CPU model every VM is given, so any VM can run on (and move to) any host that offers it. */
  cpuModel: string;
  /** HA admission control: keep room to restart the HA VMs of any this many failed hosts; 0: none. */
  haHostFailures: number;
}

/** Names in the cluster settings table: the cluster policy's, and the balancer's schedule (a JSON object, see cluster/balance.ts). */
export type SettingName = keyof ClusterSettings | 'balanceSchedule' | 'haState' | 'haConfig';

/** The current time as a record timestamp. */
export function now(): Timestamp {
  return new Date().toISOString();
}
