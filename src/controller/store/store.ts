/**
 * The controller's data-access contract. Services see only these interfaces, so another engine
 * (PostgreSQL) can be added by implementing them, and `store.conformance.ts` checks it does.
 * Every method is async for that reason, even where SQLite answers synchronously.
 */
import type {
  ControllerRecord,
  LeaderLeaseRecord,
  SettingName,
  EventRecord,
  JsonValue,
  HostRecord,
  ImageRecord,
  JoinTokenRecord,
  NetworkRecord,
  NewEventRecord,
  OperationRecord,
  OperationState,
  PlacementRecord,
  Timestamp,
  TokenRecord,
  VmRecord,
  VmState,
} from './records.js';

/** The fields a repository lets a caller change: everything but the identity and creation time. */
export type Patch<R> = Partial<Omit<R, 'id' | 'createdAt'>>;

/** Named things (hosts, images, VMs): `insert` throws ALREADY_EXISTS when the name is taken. */
export interface NamedRepository<R extends { id: string; name: string }> {
  insert(record: R): Promise<void>;
  get(id: string): Promise<R | undefined>;
  getByName(name: string): Promise<R | undefined>;
  /** All records, oldest first. */
  list(): Promise<R[]>;
  /** The names of the records with these ids (ids with no record are left out), reading only the two columns. */
  namesOf(ids: readonly string[]): Promise<Map<string, string>>;
  /** Applies `patch` and bumps updatedAt; throws NOT_FOUND when `id` does not exist. */
  update(id: string, patch: Patch<R>): Promise<R>;
  /** Returns false when there was nothing to delete. */
  delete(id: string): Promise<boolean>;
  /**
   * A cheap mark of the records' contents (how many, and the latest updatedAt): a reader that keeps a copy reads
   * the records again when it changes. Best effort: two changes within one millisecond, or a change committed
   * after a later one, can leave it unchanged, so such a copy is also read again now and then.
   */
  changeStamp(): Promise<string>;
  /** The records updated (or inserted) at or after `since`, oldest first: what a reader keeping a copy reads again. */
  listUpdatedSince(since: Timestamp): Promise<R[]>;
  /** Every record's id, reading only that column: how a copy finds the records deleted since. */
  ids(): Promise<string[]>;
  /**
   * At most `limit` records whose id comes after `afterId` (all from the first when it is absent), in id order: a large
   * table read a piece at a time, so that a reader can let other work run between the pieces.
   */
  listAfterId(afterId: string | undefined, limit: number): Promise<R[]>;
}

export type HostRepository = NamedRepository<HostRecord>;
export type ImageRepository = NamedRepository<ImageRecord>;
export type NetworkRepository = NamedRepository<NetworkRecord>;

/** Which VMs a page holds: those after `afterName`, matching every filter given. */
export interface VmPageFilter {
  /** At most this many; all when absent. */
  limit?: number;
  /** Only names after this one (the last name of the previous page). */
  afterName?: string;
  hostId?: string;
  state?: VmState;
  /** `vm` also matches VMs recorded before the type existed. */
  type?: 'vm' | 'container';
}

export interface VmRepository extends NamedRepository<VmRecord> {
  listByHost(hostId: string): Promise<VmRecord[]>;
  /** VMs ordered by name (byte order on every engine), filtered as `filter` says; the name index orders them. */
  page(filter: VmPageFilter): Promise<VmRecord[]>;
}

export interface OperationFilter {
  states?: readonly OperationState[];
  targetType?: string;
  targetId?: string;
  /** Newest first; at most this many. */
  limit: number;
}

export interface OperationRepository {
  insert(record: OperationRecord): Promise<void>;
  get(id: string): Promise<OperationRecord | undefined>;
  /** Applies `patch` and bumps updatedAt; throws OPERATION_NOT_FOUND when `id` does not exist. */
  update(id: string, patch: Patch<OperationRecord>): Promise<OperationRecord>;
  list(filter: OperationFilter): Promise<OperationRecord[]>;
}

export interface EventFilter {
  /** Matches events on that VM, by id or name. */
  vm?: string;
  /** Matches events on that host (by id or name) and events that happened on it (hostId). */
  host?: string;
  actor?: string;
  /** Inclusive bounds. */
  since?: Timestamp;
  until?: Timestamp;
  /** Exclusive id bounds, for paging and stream catch-up. */
  afterId?: number;
  beforeId?: number;
  order: 'asc' | 'desc';
  limit: number;
}

export interface EventRepository {
  /** Appends the event and returns its id; ids only grow. */
  append(event: NewEventRecord): Promise<number>;
  query(filter: EventFilter): Promise<EventRecord[]>;
}

export interface TokenRepository {
  /** Throws ALREADY_EXISTS when an active (unrevoked) token has the name. */
  insert(record: TokenRecord): Promise<void>;
  getByHash(hash: string): Promise<TokenRecord | undefined>;
  getActiveByName(name: string): Promise<TokenRecord | undefined>;
  /** Active and revoked tokens, oldest first. */
  list(): Promise<TokenRecord[]>;
  /** Throws TOKEN_NOT_FOUND when `id` does not exist. */
  update(id: string, patch: Patch<TokenRecord>): Promise<TokenRecord>;
}

/** One-time join tokens, looked up by the hash of their secret. */
export interface JoinTokenRepository {
  insert(record: JoinTokenRecord): Promise<void>;
  getByHash(hash: string): Promise<JoinTokenRecord | undefined>;
  /**
   * Marks the token used by `hostId` at `usedAt`, only if it is still unused and expires after
   * `usedAt`; returns false (and changes nothing) otherwise. The check and the write are one step.
   */
  consume(id: string, usedAt: Timestamp, hostId: string): Promise<boolean>;
  /** Deletes tokens that expired before `before`; returns how many. */
  deleteExpired(before: Timestamp): Promise<number>;
}

/** Where each VM has been: one row per stay on a host, the open one last. */
export interface PlacementRepository {
  insert(record: PlacementRecord): Promise<void>;
  /** The VM's placements, newest first. */
  listByVm(vmId: string): Promise<PlacementRecord[]>;
  /** The VM's open placement (endedAt null), if any. */
  current(vmId: string): Promise<PlacementRecord | undefined>;
  /** The placement covering `time` (started at or before it, ended after it or still open). */
  at(vmId: string, time: Timestamp): Promise<PlacementRecord | undefined>;
  /** Sets endedAt on the VM's open placement; returns false when it had none. */
  close(vmId: string, endedAt: Timestamp): Promise<boolean>;
}

/** Cluster-wide settings by name (see ClusterSettings and SettingName); a setting never written reads as undefined, so the caller's default applies. */
export interface SettingsRepository {
  get(name: SettingName): Promise<JsonValue | undefined>;
  set(name: SettingName, value: JsonValue): Promise<void>;
}

/** The controllers that serve the API, each refreshing its row while it lives. */
export interface ControllerRepository {
  /** Inserts or replaces the controller's row. */
  put(record: ControllerRecord): Promise<void>;
  /** Oldest first. */
  list(): Promise<ControllerRecord[]>;
  delete(id: string): Promise<boolean>;
}

/** The one leader lease (see LeaderLeaseRecord). */
export interface LeaderLeaseRepository {
  get(): Promise<LeaderLeaseRecord | undefined>;
  /** Inserts or replaces the lease. */
  put(record: LeaderLeaseRecord): Promise<void>;
}

/** Everything a service may read or write; both the store and a transaction handle are one. */
export interface Repositories {
  readonly hosts: HostRepository;
  readonly images: ImageRepository;
  readonly vms: VmRepository;
  readonly operations: OperationRepository;
  readonly events: EventRepository;
  readonly tokens: TokenRepository;
  readonly joinTokens: JoinTokenRepository;
  readonly placements: PlacementRepository;
  readonly settings: SettingsRepository;
  readonly networks: NetworkRepository;
  readonly controllers: ControllerRepository;
  readonly leaderLease: LeaderLeaseRepository;
}

/** The handle a transaction body works through. It is dead once the transaction ends. */
export interface Transaction extends Repositories {
  /** Runs `fn` after a successful commit, never after a rollback (e.g. to publish live events). */
  afterCommit(fn: () => void): void;
}

export interface Store extends Repositories {
  readonly engine: string;
  /**
   * Runs `fn` in one transaction: all of its writes commit together, or none do when it throws.
   * `fn` must do its reads and writes through `tx` and await nothing but the store: the
   * transaction holds the database while it runs.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Waits for a running transaction, then closes the database. */
  close(): Promise<void>;
}
