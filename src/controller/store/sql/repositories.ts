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
  PlacementRecord,
  TokenRecord,
  VmRecord,
} from '../records.js';
import { now, type Timestamp } from '../records.js';
import type {
  ControllerRepository,
  EventFilter,
  LeaderLeaseRepository,
  EventRepository,
  JoinTokenRepository,
  NamedRepository,
  OperationFilter,
  OperationRepository,
  Patch,
  PlacementRepository,
  SettingsRepository,
  TokenRepository,
  VmPageFilter,
  VmRepository,
  Repositories,
} from '../store.js';
import type { SqlExecutor, SqlValue } from './executor.js';
import { SqlTable, type ColumnKind, type ColumnMap } from './table.js';

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
  owner: ['owner', 'text'],
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

const CONTROLLER_COLUMNS: ColumnMap<ControllerRecord> = {
  id: ['id', 'text'],
  name: ['name', 'text'],
  url: ['url', 'text'],
  version: ['version', 'text'],
  startedAt: ['started_at', 'text'],
  lastSeenAt: ['last_seen_at', 'text'],
};

/** One table as whole-store tools (`../transfer.ts`) see it. */
export interface StoreTable {
  readonly name: string;
  readonly columns: readonly (readonly [column: string, kind: ColumnKind])[];
  /** The unique column that orders and pages the rows; the engine's insertion order when absent. */
  readonly key?: string;
  /** A column the engine generates values for (events.id), whose values are copied as they are. */
  readonly identity?: string;
}

function storeTable<R>(name: string, columns: ColumnMap<R>, options: { key?: string; identity?: string } = {}): StoreTable {
  return { name, columns: Object.values<readonly [string, ColumnKind]>(columns), ...options };
}

/**
 * Every table the repositories keep, parents before children (VMs refer to hosts), so that rows
 * inserted in this order satisfy the foreign keys. A table or column missing here would be left
 * behind by `drover store copy`; transfer.test.ts compares this list with the schema.
 */
export const STORE_TABLES: readonly StoreTable[] = [
  storeTable('hosts', HOST_COLUMNS),
  storeTable('images', IMAGE_COLUMNS),
  storeTable('networks', NETWORK_COLUMNS),
  storeTable('vms', VM_COLUMNS),
  storeTable('operations', OPERATION_COLUMNS),
  storeTable('events', EVENT_COLUMNS, { key: 'id', identity: 'id' }),
  storeTable('tokens', TOKEN_COLUMNS),
  storeTable('join_tokens', JOIN_TOKEN_COLUMNS),
  storeTable('placements', PLACEMENT_COLUMNS),
  {
    name: 'cluster_settings',
    columns: [['name', 'text'], ['value', 'json'], ['updated_at', 'text']],
    // PostgreSQL's cluster_settings has no seq column; the order of settings means nothing.
    key: 'name',
  },
  // The registry and the lease come along too: a controller keeps its id across the move, and
  // the lease's fencing token goes on growing from where it was.
  storeTable('controllers', CONTROLLER_COLUMNS),
  {
    name: 'leader_lease',
    columns: [['name', 'text'], ['holder', 'text'], ['token', 'number'], ['acquired_at', 'text'], ['renewed_at', 'text'], ['expires_at', 'text']],
    // One row, and no seq column in PostgreSQL.
    key: 'name',
  },
];

/** Hosts, images, VMs and networks: named records with the same six operations. */
export class SqlNamedRepository<R extends { id: string; name: string }> implements NamedRepository<R> {
  protected readonly rows: SqlTable<R>;

  constructor(sql: SqlExecutor, table: string, columns: ColumnMap<R>) {
    this.rows = new SqlTable(sql, table, columns, 'NOT_FOUND');
  }

  insert(record: R): Promise<void> {
    return this.rows.insert(record);
  }
  get(id: string): Promise<R | undefined> {
    return this.rows.selectOne('id = @id', { id });
  }
  getByName(name: string): Promise<R | undefined> {
    return this.rows.selectOne('name = @name', { name });
  }
  list(): Promise<R[]> {
    return this.rows.select('', {});
  }
  async namesOf(ids: readonly string[]): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    const unique = [...new Set(ids)];
    // A few hundred parameters a statement stays far below every engine's limit.
    for (let from = 0; from < unique.length; from += 500) {
      const chunk = unique.slice(from, from + 500);
      const params = Object.fromEntries(chunk.map((id, i) => [`id${i}`, id]));
      const rows = await this.rows.sql.all(`SELECT id, name FROM ${this.rows.table} WHERE id IN (${chunk.map((_, i) => `@id${i}`).join(', ')})`, params);
      for (const row of rows) names.set(String(row.id), String(row.name));
    }
    return names;
  }
  update(id: string, patch: Patch<R>): Promise<R> {
    return this.rows.update(id, patch);
  }
  delete(id: string): Promise<boolean> {
    return this.rows.delete(id);
  }
  listUpdatedSince(since: Timestamp): Promise<R[]> {
    return this.rows.select('updated_at >= @since', { since });
  }
  async ids(): Promise<string[]> {
    return (await this.rows.sql.all(`SELECT id FROM ${this.rows.table}`, {})).map((row) => String(row.id));
  }
  listAfterId(afterId: string | undefined, limit: number): Promise<R[]> {
    // Compared and ordered in the column's own collation, which its primary key index follows.
    const tail = 'ORDER BY id LIMIT @limit';
    return afterId === undefined ? this.rows.select('', { limit }, tail) : this.rows.select('id > @afterId', { afterId, limit }, tail);
  }
  async changeStamp(): Promise<string> {
    const [row] = await this.rows.sql.all(`SELECT count(*) AS n, max(updated_at) AS last FROM ${this.rows.table}`, {});
    return `${String(row?.n ?? 0)}:${String(row?.last ?? '')}`;
  }
}

/** VMs, also listable by the host they are placed on. */
export class SqlVmRepository extends SqlNamedRepository<VmRecord> implements VmRepository {
  listByHost(hostId: string): Promise<VmRecord[]> {
    return this.rows.select('host_id = @hostId', { hostId });
  }
  page(filter: VmPageFilter): Promise<VmRecord[]> {
    const dialect = this.rows.sql.dialect;
    const name = dialect.byteOrder('name');
    const where: string[] = [];
    const params: Record<string, SqlValue> = {};
    if (filter.afterName !== undefined) {
      where.push(`${name} > @afterName`);
      params.afterName = filter.afterName;
    }
    if (filter.hostId !== undefined) {
      where.push('host_id = @hostId');
      params.hostId = filter.hostId;
    }
    if (filter.state !== undefined) {
      where.push('state = @state');
      params.state = filter.state;
    }
    if (filter.type !== undefined) {
      // VMs recorded before containers existed have no type in their spec: they are VMs.
      where.push(`COALESCE(${dialect.jsonText('spec', 'type')}, 'vm') = @type`);
      params.type = filter.type;
    }
    let tail = `ORDER BY ${name}`;
    if (filter.limit !== undefined) {
      tail += ' LIMIT @limit';
      params.limit = filter.limit;
    }
    return this.rows.select(where.join(' AND '), params, tail);
  }
}

/** Operations; `list` uses the state and target indexes. */
export class SqlOperationRepository implements OperationRepository {
  private readonly rows: SqlTable<OperationRecord>;

  constructor(private readonly sql: SqlExecutor) {
    this.rows = new SqlTable(sql, 'operations', OPERATION_COLUMNS, 'OPERATION_NOT_FOUND');
  }

  insert(record: OperationRecord): Promise<void> {
    return this.rows.insert(record);
  }
  get(id: string): Promise<OperationRecord | undefined> {
    return this.rows.selectOne('id = @id', { id });
  }
  update(id: string, patch: Patch<OperationRecord>): Promise<OperationRecord> {
    return this.rows.update(id, patch);
  }
  list(filter: OperationFilter): Promise<OperationRecord[]> {
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
    return this.rows.select(where.join(' AND '), params, `ORDER BY created_at DESC, ${this.sql.dialect.insertionOrder} DESC LIMIT @limit`);
  }
}

/** The append-only event table; ids come from the engine's own sequence, so they are never reused. */
export class SqlEventRepository implements EventRepository {
  private readonly rows: SqlTable<EventRecord>;

  constructor(private readonly sql: SqlExecutor) {
    this.rows = new SqlTable(sql, 'events', EVENT_COLUMNS, 'NOT_FOUND');
  }

  async append(event: NewEventRecord): Promise<number> {
    const rows = await this.sql.all(
      `INSERT INTO events (time, actor, object_type, object_id, object_name, action, host_id, result, request_id, detail)
       VALUES (@time, @actor, @objectType, @objectId, @objectName, @action, @hostId, @result, @requestId, @detail) RETURNING id`,
      { ...event, detail: JSON.stringify(event.detail) },
    );
    return Number(rows[0]?.id);
  }

  query(filter: EventFilter): Promise<EventRecord[]> {
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
export class SqlTokenRepository implements TokenRepository {
  private readonly rows: SqlTable<TokenRecord>;

  constructor(sql: SqlExecutor) {
    this.rows = new SqlTable(sql, 'tokens', TOKEN_COLUMNS, 'TOKEN_NOT_FOUND');
  }

  insert(record: TokenRecord): Promise<void> {
    return this.rows.insert(record);
  }
  getByHash(hash: string): Promise<TokenRecord | undefined> {
    return this.rows.selectOne('hash = @hash', { hash });
  }
  getActiveByName(name: string): Promise<TokenRecord | undefined> {
    return this.rows.selectOne('name = @name AND revoked_at IS NULL', { name });
  }
  list(): Promise<TokenRecord[]> {
    return this.rows.select('', {});
  }
  update(id: string, patch: Patch<TokenRecord>): Promise<TokenRecord> {
    return this.rows.update(id, patch);
  }
}

/** Join tokens; `consume` is one conditional UPDATE, so two joins cannot both use a token. */
export class SqlJoinTokenRepository implements JoinTokenRepository {
  private readonly rows: SqlTable<JoinTokenRecord>;

  constructor(private readonly sql: SqlExecutor) {
    this.rows = new SqlTable(sql, 'join_tokens', JOIN_TOKEN_COLUMNS, 'NOT_FOUND');
  }

  insert(record: JoinTokenRecord): Promise<void> {
    return this.rows.insert(record);
  }
  getByHash(hash: string): Promise<JoinTokenRecord | undefined> {
    return this.rows.selectOne('hash = @hash', { hash });
  }
  async consume(id: string, usedAt: string, hostId: string): Promise<boolean> {
    const sql = 'UPDATE join_tokens SET used_at = @usedAt, used_by_host_id = @hostId WHERE id = @id AND used_at IS NULL AND expires_at > @usedAt';
    return (await this.sql.run(sql, { id, usedAt, hostId })) === 1;
  }
  deleteExpired(before: string): Promise<number> {
    return this.sql.run('DELETE FROM join_tokens WHERE expires_at < @before', { before });
  }
}

/** Placement history; the open row per VM is unique, so `close` touches at most one. */
export class SqlPlacementRepository implements PlacementRepository {
  private readonly rows: SqlTable<PlacementRecord>;

  constructor(private readonly sql: SqlExecutor) {
    this.rows = new SqlTable(sql, 'placements', PLACEMENT_COLUMNS, 'NOT_FOUND');
  }

  insert(record: PlacementRecord): Promise<void> {
    return this.rows.insert(record);
  }
  listByVm(vmId: string): Promise<PlacementRecord[]> {
    return this.rows.select('vm_id = @vmId', { vmId }, `ORDER BY started_at DESC, ${this.sql.dialect.insertionOrder} DESC`);
  }
  current(vmId: string): Promise<PlacementRecord | undefined> {
    return this.rows.selectOne('vm_id = @vmId AND ended_at IS NULL', { vmId });
  }
  async at(vmId: string, time: string): Promise<PlacementRecord | undefined> {
    const where = 'vm_id = @vmId AND started_at <= @time AND (ended_at IS NULL OR ended_at > @time)';
    return (await this.rows.select(where, { vmId, time }, `ORDER BY started_at DESC, ${this.sql.dialect.insertionOrder} DESC LIMIT 1`))[0];
  }
  async close(vmId: string, endedAt: string): Promise<boolean> {
    return (await this.sql.run('UPDATE placements SET ended_at = @endedAt WHERE vm_id = @vmId AND ended_at IS NULL', { vmId, endedAt })) > 0;
  }
}

/** Cluster settings as JSON values by name. */
export class SqlSettingsRepository implements SettingsRepository {
  constructor(private readonly sql: SqlExecutor) {}

  async get(name: SettingName): Promise<JsonValue | undefined> {
    const [row] = await this.sql.all('SELECT value FROM cluster_settings WHERE name = @name', { name });
    return row ? (JSON.parse(String(row.value)) as JsonValue) : undefined;
  }
  async set(name: SettingName, value: JsonValue): Promise<void> {
    await this.sql.run(
      'INSERT INTO cluster_settings (name, value, updated_at) VALUES (@name, @value, @updatedAt) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      { name, value: JSON.stringify(value), updatedAt: now() },
    );
  }
}

/** The controllers' registry: one row each, replaced at every refresh. */
export class SqlControllerRepository implements ControllerRepository {
  private readonly rows: SqlTable<ControllerRecord>;

  constructor(private readonly sql: SqlExecutor) {
    this.rows = new SqlTable(sql, 'controllers', CONTROLLER_COLUMNS, 'NOT_FOUND');
  }

  async put(record: ControllerRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO controllers (id, name, url, version, started_at, last_seen_at) VALUES (@id, @name, @url, @version, @startedAt, @lastSeenAt)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, url = excluded.url, version = excluded.version, started_at = excluded.started_at, last_seen_at = excluded.last_seen_at`,
      { ...record },
    );
  }
  list(): Promise<ControllerRecord[]> {
    return this.rows.select('', {});
  }
  delete(id: string): Promise<boolean> {
    return this.rows.delete(id);
  }
}

/** The leader lease: one row named `leader`. */
export class SqlLeaderLeaseRepository implements LeaderLeaseRepository {
  constructor(private readonly sql: SqlExecutor) {}

  async get(): Promise<LeaderLeaseRecord | undefined> {
    const [row] = await this.sql.all("SELECT holder, token, acquired_at, renewed_at, expires_at FROM leader_lease WHERE name = 'leader'");
    if (!row) return undefined;
    return {
      holder: String(row.holder),
      token: Number(row.token),
      acquiredAt: String(row.acquired_at),
      renewedAt: String(row.renewed_at),
      expiresAt: String(row.expires_at),
    };
  }
  async put(record: LeaderLeaseRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO leader_lease (name, holder, token, acquired_at, renewed_at, expires_at) VALUES ('leader', @holder, @token, @acquiredAt, @renewedAt, @expiresAt)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at`,
      { ...record },
    );
  }
}

/** One instance of every repository over the same executor (a connection, or one transaction's). */
export function sqlRepositories(sql: SqlExecutor): Repositories {
  return {
    hosts: new SqlNamedRepository(sql, 'hosts', HOST_COLUMNS),
    images: new SqlNamedRepository(sql, 'images', IMAGE_COLUMNS),
    vms: new SqlVmRepository(sql, 'vms', VM_COLUMNS),
    operations: new SqlOperationRepository(sql),
    events: new SqlEventRepository(sql),
    tokens: new SqlTokenRepository(sql),
    joinTokens: new SqlJoinTokenRepository(sql),
    placements: new SqlPlacementRepository(sql),
    settings: new SqlSettingsRepository(sql),
    networks: new SqlNamedRepository(sql, 'networks', NETWORK_COLUMNS),
    controllers: new SqlControllerRepository(sql),
    leaderLease: new SqlLeaderLeaseRepository(sql),
  };
}
