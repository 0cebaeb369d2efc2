import type { SqliteDatabase } from '../db.js';
import type {
  SettingName,
  EventRecord,
  JsonValue,
  HostRecord,
  ImageRecord,
  JoinTokenRecord,
  NetworkRecord,
  NewEventRecord,
  OperationRecord,
  PlacementRecord,
  TokenRecord,
  VmRecord,
} from '../records.js';
import { now } from '../records.js';
import type {
  EventFilter,
  EventRepository,
  JoinTokenRepository,
  NamedRepository,
  OperationFilter,
  OperationRepository,
  Patch,
  PlacementRepository,
  SettingsRepository,
  TokenRepository,
  VmRepository,
} from '../store.js';
import { SqliteTable, type ColumnMap } from './table.js';

/** The synchronous twin of an async repository interface: what SQLite implements directly. */
export type Synchronous<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never;
};

const HOST_COLUMNS: ColumnMap<HostRecord> = {
  id: ['id', 'text'],
  name: ['name', 'text'],
  address: ['address', 'text'],
  version: ['version', 'text'],
  accelerator: ['accelerator', 'text'],
  capacity: ['capacity', 'json'],
  usage: ['usage', 'json'],
  health: ['health', 'text'],
  lastHeartbeat: ['last_heartbeat', 'text'],
  state: ['state', 'text'],
  credential: ['credential', 'text'],
  tags: ['tags', 'json'],
  cpuOvercommit: ['cpu_overcommit', 'number'],
  memoryOvercommit: ['memory_overcommit', 'number'],
  pools: ['pools', 'json'],
  cpuModels: ['cpu_models', 'json'],
  fenceDevice: ['fence_device', 'json'],
  createdAt: ['created_at', 'text'],
  updatedAt: ['updated_at', 'text'],
};

const IMAGE_COLUMNS: ColumnMap<ImageRecord> = {
  id: ['id', 'text'],
  name: ['name', 'text'],
  format: ['format', 'text'],
  sizeBytes: ['size_bytes', 'number'],
  checksum: ['checksum', 'text'],
  source: ['source', 'text'],
  state: ['state', 'text'],
  createdAt: ['created_at', 'text'],
  updatedAt: ['updated_at', 'text'],
};

const VM_COLUMNS: ColumnMap<VmRecord> = {
  id: ['id', 'text'],
  name: ['name', 'text'],
  hostId: ['host_id', 'text'],
  state: ['state', 'text'],
  desiredState: ['desired_state', 'text'],
  spec: ['spec', 'json'],
  disks: ['disks', 'json'],
  nics: ['nics', 'json'],
  snapshots: ['snapshots', 'json'],
  runtime: ['runtime', 'json'],
  movingTo: ['moving_to', 'text'],
  createdAt: ['created_at', 'text'],
  updatedAt: ['updated_at', 'text'],
};

const OPERATION_COLUMNS: ColumnMap<OperationRecord> = {
  id: ['id', 'text'],
  kind: ['kind', 'text'],
  targetType: ['target_type', 'text'],
  targetId: ['target_id', 'text'],
  targetName: ['target_name', 'text'],
  hostId: ['host_id', 'text'],
  state: ['state', 'text'],
  progress: ['progress', 'number'],
  message: ['message', 'text'],
  steps: ['steps', 'json'],
  result: ['result', 'json'],
  error: ['error', 'json'],
  actor: ['actor', 'text'],
  cancelRequested: ['cancel_requested', 'boolean'],
  createdAt: ['created_at', 'text'],
  updatedAt: ['updated_at', 'text'],
};

const EVENT_COLUMNS: ColumnMap<EventRecord> = {
  id: ['id', 'number'],
  time: ['time', 'text'],
  actor: ['actor', 'text'],
  objectType: ['object_type', 'text'],
  objectId: ['object_id', 'text'],
  objectName: ['object_name', 'text'],
  action: ['action', 'text'],
  hostId: ['host_id', 'text'],
  result: ['result', 'text'],
  requestId: ['request_id', 'text'],
  detail: ['detail', 'json'],
};

const TOKEN_COLUMNS: ColumnMap<TokenRecord> = {
  id: ['id', 'text'],
  name: ['name', 'text'],
  hash: ['hash', 'text'],
  role: ['role', 'text'],
  createdAt: ['created_at', 'text'],
  revokedAt: ['revoked_at', 'text'],
  lastUsedAt: ['last_used_at', 'text'],
};

const JOIN_TOKEN_COLUMNS: ColumnMap<JoinTokenRecord> = {
  id: ['id', 'text'],
  hash: ['hash', 'text'],
  createdBy: ['created_by', 'text'],
  createdAt: ['created_at', 'text'],
  expiresAt: ['expires_at', 'text'],
  usedAt: ['used_at', 'text'],
  usedByHostId: ['used_by_host_id', 'text'],
};

const PLACEMENT_COLUMNS: ColumnMap<PlacementRecord> = {
  id: ['id', 'text'],
  vmId: ['vm_id', 'text'],
  vmName: ['vm_name', 'text'],
  hostId: ['host_id', 'text'],
  hostName: ['host_name', 'text'],
  startedAt: ['started_at', 'text'],
  endedAt: ['ended_at', 'text'],
  reason: ['reason', 'text'],
  actor: ['actor', 'text'],
  operationId: ['operation_id', 'text'],
  detail: ['detail', 'json'],
};

const NETWORK_COLUMNS: ColumnMap<NetworkRecord> = {
  id: ['id', 'text'],
  name: ['name', 'text'],
  subnet: ['subnet', 'text'],
  vni: ['vni', 'number'],
  mtu: ['mtu', 'number'],
  createdAt: ['created_at', 'text'],
  updatedAt: ['updated_at', 'text'],
};

/** Hosts, images and VMs: named records with the same five operations. */
export class SqliteNamedRepository<R extends { id: string; name: string }> implements Synchronous<NamedRepository<R>> {
  protected readonly rows: SqliteTable<R>;

  constructor(db: SqliteDatabase, table: string, columns: ColumnMap<R>) {
    this.rows = new SqliteTable(db, table, columns, 'NOT_FOUND');
  }

  insert(record: R): void {
    this.rows.insert(record);
  }
  get(id: string): R | undefined {
    return this.rows.selectOne('id = @id', { id });
  }
  getByName(name: string): R | undefined {
    return this.rows.selectOne('name = @name', { name });
  }
  list(): R[] {
    return this.rows.select('', {});
  }
  update(id: string, patch: Patch<R>): R {
    return this.rows.update(id, patch);
  }
  delete(id: string): boolean {
    return this.rows.delete(id);
  }
}

/** VMs, also listable by the host they are placed on. */
export class SqliteVmRepository extends SqliteNamedRepository<VmRecord> implements Synchronous<VmRepository> {
  listByHost(hostId: string): VmRecord[] {
    return this.rows.select('host_id = @hostId', { hostId });
  }
}

/** Operations; `list` uses the state and target indexes. */
export class SqliteOperationRepository implements Synchronous<OperationRepository> {
  private readonly rows: SqliteTable<OperationRecord>;

  constructor(db: SqliteDatabase) {
    this.rows = new SqliteTable(db, 'operations', OPERATION_COLUMNS, 'OPERATION_NOT_FOUND');
  }

  insert(record: OperationRecord): void {
    this.rows.insert(record);
  }
  get(id: string): OperationRecord | undefined {
    return this.rows.selectOne('id = @id', { id });
  }
  update(id: string, patch: Patch<OperationRecord>): OperationRecord {
    return this.rows.update(id, patch);
  }
  list(filter: OperationFilter): OperationRecord[] {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: filter.limit };
    if (filter.states && filter.states.length > 0) {
      const names = filter.states.map((state, i) => {
        params[`state${i}`] = state;
        return `@state${i}`;
      });
      where.push(`state IN (${names.join(', ')})`);
    }
    if (filter.targetType !== undefined) {
      where.push('target_type = @targetType');
      params.targetType = filter.targetType;
    }
    if (filter.targetId !== undefined) {
      where.push('target_id = @targetId');
      params.targetId = filter.targetId;
    }
    return this.rows.select(where.join(' AND '), params, 'ORDER BY created_at DESC, rowid DESC LIMIT @limit');
  }
}

/** The append-only event table; ids come from AUTOINCREMENT so they are never reused. */
export class SqliteEventRepository implements Synchronous<EventRepository> {
  private readonly rows: SqliteTable<EventRecord>;
  private readonly appendStatement;

  constructor(db: SqliteDatabase) {
    this.rows = new SqliteTable(db, 'events', EVENT_COLUMNS, 'NOT_FOUND');
    this.appendStatement = db.prepare(`INSERT INTO events
      (time, actor, object_type, object_id, object_name, action, host_id, result, request_id, detail)
      VALUES (@time, @actor, @objectType, @objectId, @objectName, @action, @hostId, @result, @requestId, @detail)`);
  }

  append(event: NewEventRecord): number {
    const result = this.appendStatement.run({ ...event, detail: JSON.stringify(event.detail) });
    return Number(result.lastInsertRowid);
  }

  query(filter: EventFilter): EventRecord[] {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: filter.limit };
    if (filter.vm !== undefined) {
      where.push("object_type = 'vm' AND (object_id = @vm OR object_name = @vm)");
      params.vm = filter.vm;
    }
    if (filter.host !== undefined) {
      where.push("(host_id = @host OR (object_type = 'host' AND (object_id = @host OR object_name = @host)))");
      params.host = filter.host;
    }
    const simple = [
      ['actor = @actor', 'actor', filter.actor],
      ['time >= @since', 'since', filter.since],
      ['time <= @until', 'until', filter.until],
      ['id > @afterId', 'afterId', filter.afterId],
      ['id < @beforeId', 'beforeId', filter.beforeId],
    ] as const;
    for (const [clause, name, value] of simple) {
      if (value === undefined) continue;
      where.push(clause);
      params[name] = value;
    }
    const order = filter.order === 'asc' ? 'ASC' : 'DESC';
    return this.rows.select(where.join(' AND '), params, `ORDER BY id ${order} LIMIT @limit`);
  }
}

/** Tokens, looked up by the hash of their secret. */
export class SqliteTokenRepository implements Synchronous<TokenRepository> {
  private readonly rows: SqliteTable<TokenRecord>;

  constructor(db: SqliteDatabase) {
    this.rows = new SqliteTable(db, 'tokens', TOKEN_COLUMNS, 'TOKEN_NOT_FOUND');
  }

  insert(record: TokenRecord): void {
    this.rows.insert(record);
  }
  getByHash(hash: string): TokenRecord | undefined {
    return this.rows.selectOne('hash = @hash', { hash });
  }
  getActiveByName(name: string): TokenRecord | undefined {
    return this.rows.selectOne('name = @name AND revoked_at IS NULL', { name });
  }
  list(): TokenRecord[] {
    return this.rows.select('', {});
  }
  update(id: string, patch: Patch<TokenRecord>): TokenRecord {
    return this.rows.update(id, patch);
  }
}

/** Join tokens; `consume` is one conditional UPDATE, so two joins cannot both use a token. */
export class SqliteJoinTokenRepository implements Synchronous<JoinTokenRepository> {
  private readonly rows: SqliteTable<JoinTokenRecord>;
  private readonly consumeStatement;
  private readonly deleteExpiredStatement;

  constructor(db: SqliteDatabase) {
    this.rows = new SqliteTable(db, 'join_tokens', JOIN_TOKEN_COLUMNS, 'NOT_FOUND');
    this.consumeStatement = db.prepare(
      'UPDATE join_tokens SET used_at = @usedAt, used_by_host_id = @hostId WHERE id = @id AND used_at IS NULL AND expires_at > @usedAt',
    );
    this.deleteExpiredStatement = db.prepare('DELETE FROM join_tokens WHERE expires_at < ?');
  }

  insert(record: JoinTokenRecord): void {
    this.rows.insert(record);
  }
  getByHash(hash: string): JoinTokenRecord | undefined {
    return this.rows.selectOne('hash = @hash', { hash });
  }
  consume(id: string, usedAt: string, hostId: string): boolean {
    return this.consumeStatement.run({ id, usedAt, hostId }).changes === 1;
  }
  deleteExpired(before: string): number {
    return this.deleteExpiredStatement.run(before).changes;
  }
}

/** Placement history; the open row per VM is unique, so `close` touches at most one. */
export class SqlitePlacementRepository implements Synchronous<PlacementRepository> {
  private readonly rows: SqliteTable<PlacementRecord>;
  private readonly closeStatement;

  constructor(db: SqliteDatabase) {
    this.rows = new SqliteTable(db, 'placements', PLACEMENT_COLUMNS, 'NOT_FOUND');
    this.closeStatement = db.prepare('UPDATE placements SET ended_at = @endedAt WHERE vm_id = @vmId AND ended_at IS NULL');
  }

  insert(record: PlacementRecord): void {
    this.rows.insert(record);
  }
  listByVm(vmId: string): PlacementRecord[] {
    return this.rows.select('vm_id = @vmId', { vmId }, 'ORDER BY started_at DESC, rowid DESC');
  }
  current(vmId: string): PlacementRecord | undefined {
    return this.rows.selectOne('vm_id = @vmId AND ended_at IS NULL', { vmId });
  }
  at(vmId: string, time: string): PlacementRecord | undefined {
    const where = 'vm_id = @vmId AND started_at <= @time AND (ended_at IS NULL OR ended_at > @time)';
    return this.rows.select(where, { vmId, time }, 'ORDER BY started_at DESC, rowid DESC LIMIT 1')[0];
  }
  close(vmId: string, endedAt: string): boolean {
    return this.closeStatement.run({ vmId, endedAt }).changes > 0;
  }
}

/** Cluster settings as JSON values by name. */
export class SqliteSettingsRepository implements Synchronous<SettingsRepository> {
  private readonly getStatement;
  private readonly setStatement;

  constructor(db: SqliteDatabase) {
    this.getStatement = db.prepare('SELECT value FROM cluster_settings WHERE name = @name');
    this.setStatement = db.prepare(
      'INSERT INTO cluster_settings (name, value, updated_at) VALUES (@name, @value, @updatedAt) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    );
  }

  get(name: SettingName): JsonValue | undefined {
    const row = this.getStatement.get({ name }) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as JsonValue) : undefined;
  }
  set(name: SettingName, value: JsonValue): void {
    this.setStatement.run({ name, value: JSON.stringify(value), updatedAt: now() });
  }
}

/** One instance of every repository over the same connection. */
export function sqliteRepositories(db: SqliteDatabase) {
  return {
    hosts: new SqliteNamedRepository(db, 'hosts', HOST_COLUMNS),
    images: new SqliteNamedRepository(db, 'images', IMAGE_COLUMNS),
    vms: new SqliteVmRepository(db, 'vms', VM_COLUMNS),
    operations: new SqliteOperationRepository(db),
    events: new SqliteEventRepository(db),
    tokens: new SqliteTokenRepository(db),
    joinTokens: new SqliteJoinTokenRepository(db),
    placements: new SqlitePlacementRepository(db),
    settings: new SqliteSettingsRepository(db),
    networks: new SqliteNamedRepository(db, 'networks', NETWORK_COLUMNS),
  };
}
