import { DroverError } from '../../shared/errors.js';
import type { SqliteDatabase } from './db.js';

/** One schema change. Released migrations are never edited: a change is a new migration. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The controller's schema, oldest first, versions 1, 2, 3... Tables are STRICT so a wrong type is
 * refused by SQLite itself, and JSON columns carry a json_valid check.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'hosts, images, VMs, operations, events and tokens',
    sql: `
      CREATE TABLE hosts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        address TEXT NOT NULL,
        version TEXT NOT NULL,
        accelerator TEXT NOT NULL,
        capacity TEXT NOT NULL CHECK (json_valid(capacity)),
        usage TEXT NOT NULL CHECK (json_valid(usage)),
        health TEXT NOT NULL,
        last_heartbeat TEXT,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE images (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        format TEXT NOT NULL CHECK (format IN ('qcow2', 'raw', 'vmdk', 'vhdx')),
        size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
        checksum TEXT,
        source TEXT,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE vms (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        host_id TEXT REFERENCES hosts (id) ON DELETE RESTRICT,
        state TEXT NOT NULL,
        desired_state TEXT NOT NULL CHECK (desired_state IN ('running', 'stopped')),
        spec TEXT NOT NULL CHECK (json_valid(spec)),
        disks TEXT NOT NULL CHECK (json_valid(disks)),
        nics TEXT NOT NULL CHECK (json_valid(nics)),
        snapshots TEXT NOT NULL CHECK (json_valid(snapshots)),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX vms_host ON vms (host_id);

      CREATE TABLE operations (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        target_type TEXT NOT NULL,
        target_id TEXT NOT NULL,
        target_name TEXT,
        host_id TEXT,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        progress REAL NOT NULL CHECK (progress >= 0 AND progress <= 1),
        message TEXT NOT NULL,
        steps TEXT NOT NULL CHECK (json_valid(steps)),
        result TEXT NOT NULL CHECK (json_valid(result)),
        error TEXT CHECK (error IS NULL OR json_valid(error)),
        actor TEXT NOT NULL,
        cancel_requested INTEGER NOT NULL CHECK (cancel_requested IN (0, 1)),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX operations_state ON operations (state);
      CREATE INDEX operations_target ON operations (target_type, target_id);
      CREATE INDEX operations_created ON operations (created_at);

      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        object_type TEXT NOT NULL,
        object_id TEXT,
        object_name TEXT,
        action TEXT NOT NULL,
        host_id TEXT,
        result TEXT NOT NULL,
        request_id TEXT,
        detail TEXT NOT NULL CHECK (json_valid(detail))
      ) STRICT;
      CREATE INDEX events_object_id ON events (object_type, object_id);
      CREATE INDEX events_object_name ON events (object_type, object_name);
      CREATE INDEX events_host ON events (host_id);
      CREATE INDEX events_actor ON events (actor);
      CREATE INDEX events_time ON events (time);

      CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used_at TEXT
      ) STRICT;
      -- A revoked token keeps its name for the audit trail; only active names must be unique.
      CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;
    `,
  },
  {
    version: 2,
    name: 'host credentials and VM runtime',
    sql: `
      -- The bearer token the controller presents to the host's agent.
      ALTER TABLE hosts ADD COLUMN credential TEXT;
      -- What the host last reported about a VM: pid, start time, guest readiness, crash reason.
      ALTER TABLE vms ADD COLUMN runtime TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(runtime));
    `,
  },
  {
    version: 3,
    name: 'host tags and overcommit ratios; join tokens',
    sql: `
      -- Placement facts a host brings when it joins; existing hosts get no tags and no overcommit.
      ALTER TABLE hosts ADD COLUMN tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags));
      ALTER TABLE hosts ADD COLUMN cpu_overcommit REAL NOT NULL DEFAULT 1.0 CHECK (cpu_overcommit > 0);
      ALTER TABLE hosts ADD COLUMN memory_overcommit REAL NOT NULL DEFAULT 1.0 CHECK (memory_overcommit > 0);

      -- One-time tokens an agent joins with; only the secret's hash is kept.
      CREATE TABLE join_tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT,
        used_by_host_id TEXT
      ) STRICT;
      CREATE INDEX join_tokens_expires ON join_tokens (expires_at);
    `,
  },
  {
    version: 4,
    name: 'placement history',
    sql: `
      -- No foreign keys: a VM's history outlives the VM and the hosts it was on.
      CREATE TABLE placements (
        id TEXT PRIMARY KEY,
        vm_id TEXT NOT NULL,
        vm_name TEXT NOT NULL,
        host_id TEXT NOT NULL,
        host_name TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT CHECK (ended_at IS NULL OR ended_at >= started_at),
        reason TEXT NOT NULL CHECK (reason IN ('user', 'scheduler', 'balancer', 'maintenance', 'ha')),
        actor TEXT NOT NULL,
        operation_id TEXT,
        detail TEXT NOT NULL CHECK (json_valid(detail))
      ) STRICT;
      CREATE INDEX placements_vm ON placements (vm_id, started_at);
      -- At most one open placement per VM.
      CREATE UNIQUE INDEX placements_open ON placements (vm_id) WHERE ended_at IS NULL;
    `,
  },
  {
    version: 5,
    name: 'placement: cluster settings, host storage pools and CPU models',
    sql: `
      -- Cluster-wide settings by name (the scheduler's weight, the baseline CPU model).
      CREATE TABLE cluster_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL CHECK (json_valid(value)),
        updated_at TEXT NOT NULL
      ) STRICT;
      -- What a host's agent reports it reaches and runs; hosts that have not reported yet have none.
      ALTER TABLE hosts ADD COLUMN pools TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(pools));
      ALTER TABLE hosts ADD COLUMN cpu_models TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(cpu_models));
    `,
  },
  {
    version: 6,
    name: 'virtual networks',
    sql: `
      -- VM addresses on a network live in the VMs' nics JSON, so a VM and its address go together.
      CREATE TABLE networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        subnet TEXT NOT NULL,
        vni INTEGER NOT NULL UNIQUE CHECK (vni BETWEEN 1 AND 16777215),
        mtu INTEGER NOT NULL CHECK (mtu BETWEEN 576 AND 9000),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 7,
    name: 'live migrations in flight hold their destination',
    sql: `
      -- The destination of a VM's live migration while it runs; the scheduler charges the VM there too.
      ALTER TABLE vms ADD COLUMN moving_to TEXT REFERENCES hosts(id) ON DELETE SET NULL;
    `,
  },
  {
    version: 8,
    name: 'hosts have a fence device',
    sql: `
      -- The ClusterLabs fence agent and options that power the host off before HA restarts its VMs; NULL when none is set.
      ALTER TABLE hosts ADD COLUMN fence_device TEXT CHECK (fence_device IS NULL OR json_valid(fence_device));
    `,
  },
  {
    version: 9,
    name: 'several controllers: their registry, the leader lease, operation owners',
    sql: `
      CREATE TABLE controllers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        version TEXT NOT NULL,
        started_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
      ) STRICT;
      -- One row: the leader's lease and its fencing token.
      CREATE TABLE leader_lease (
        name TEXT PRIMARY KEY CHECK (name = 'leader'),
        holder TEXT NOT NULL,
        token INTEGER NOT NULL CHECK (token >= 1),
        acquired_at TEXT NOT NULL,
        renewed_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      ) STRICT;
      -- The controller that runs an operation; older ones have none.
      ALTER TABLE operations ADD COLUMN owner TEXT;
    `,
  },
  {
    version: 10,
    name: 'VMs listed a page at a time, filtered by state',
    sql: `
      -- GET /vms?state=...: the pages are ordered by name (its UNIQUE index); this one finds the state's VMs.
      CREATE INDEX vms_state ON vms (state);
    `,
  },
  {
    version: 11,
    name: 'Hosts and VMs found by when they last changed',
    sql: `
      -- The controller's copy of the fleet (cluster/fleet.ts) asks for the latest change and reads what changed since.
      CREATE INDEX vms_updated_at ON vms (updated_at);
      CREATE INDEX hosts_updated_at ON hosts (updated_at);
    `,
  },
];

/**
 * For a store that is read but must not be changed (a copy's source): refuses one that is not at
 * this Drover's version `known`, with STORE_NOT_FOUND (no Drover schema), STORE_SCHEMA_TOO_OLD or
 * STORE_SCHEMA_TOO_NEW.
 */
export function assertSchemaCurrent(found: number, known: number, where: string): void {
  if (found === 0) throw new DroverError('STORE_NOT_FOUND', `${where} has no Drover schema`);
  if (found < known) throw new DroverError('STORE_SCHEMA_TOO_OLD', `${where} is at schema version ${found}, this Drover at ${known}`);
  if (found > known) throw new DroverError('STORE_SCHEMA_TOO_NEW', `${where} is at schema version ${found}, this Drover knows up to ${known}`);
}

/** The version the database is at, 0 without a schema_migrations table; unlike currentVersion it writes nothing. */
export function recordedVersion(db: SqliteDatabase): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number | null };
  return row.version ?? 0;
}

/** The highest version this controller knows. */
export function latestVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.at(-1)?.version ?? 0;
}

/** The version the database is at, 0 for a new file. */
export function currentVersion(db: SqliteDatabase): number {
  ensureMigrationsTable(db);
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number | null };
  return row.version ?? 0;
}

/**
 * Brings the database to the latest version, one transaction per migration (the change and its
 * `schema_migrations` row commit together), and returns the versions it applied. Safe to call on
 * every start; refuses a database written by a newer controller with STORE_SCHEMA_TOO_NEW.
 */
export function applyMigrations(db: SqliteDatabase, migrations: readonly Migration[] = MIGRATIONS): number[] {
  checkOrdered(migrations);
  const known = latestVersion(migrations);
  const atStart = currentVersion(db);
  if (atStart > known) {
    throw new DroverError('STORE_SCHEMA_TOO_NEW', `database schema version ${atStart}, this controller knows up to ${known}`);
  }
  const applied: number[] = [];
  for (const migration of migrations) {
    const apply = db.transaction(() => {
      // Re-read inside the write lock: another process may have migrated since we looked.
      if (currentVersion(db) >= migration.version) return false;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        new Date().toISOString(),
      );
      return true;
    });
    if (apply.immediate()) applied.push(migration.version);
  }
  return applied;
}

function ensureMigrationsTable(db: SqliteDatabase): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  ) STRICT`);
}

function checkOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new DroverError('INTERNAL', `migration "${migration.name}" has version ${migration.version}, expected ${index + 1}`);
    }
  });
}
