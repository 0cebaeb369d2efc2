import type pg from 'pg';
import { DroverError } from '../../../shared/errors.js';
import type { Migration } from '../migrations.js';

/**
 * The controller's schema on PostgreSQL, oldest first. Its versions count on their own: version 1
 * is the whole schema SQLite reached in its first eight migrations. Released entries are never edited.
 *
 * The columns and their meaning match the SQLite tables, so one repository code serves both:
 * timestamps are ISO-8601 text (they sort as text), JSON is `json` (kept as written, validated by
 * PostgreSQL), and each table has a `seq` identity column that orders rows by insertion, as
 * SQLite's rowid does.
 */
export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'hosts, images, VMs, networks, operations, events, tokens, join tokens, placements and settings',
    sql: `
      CREATE TABLE hosts (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        address TEXT NOT NULL,
        version TEXT NOT NULL,
        accelerator TEXT NOT NULL,
        capacity JSON NOT NULL,
        usage JSON NOT NULL,
        health TEXT NOT NULL,
        last_heartbeat TEXT,
        state TEXT NOT NULL,
        credential TEXT,
        tags JSON NOT NULL DEFAULT '[]',
        cpu_overcommit DOUBLE PRECISION NOT NULL DEFAULT 1.0 CHECK (cpu_overcommit > 0),
        memory_overcommit DOUBLE PRECISION NOT NULL DEFAULT 1.0 CHECK (memory_overcommit > 0),
        pools JSON NOT NULL DEFAULT '[]',
        cpu_models JSON NOT NULL DEFAULT '[]',
        fence_device JSON,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE images (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        format TEXT NOT NULL CHECK (format IN ('qcow2', 'raw', 'vmdk', 'vhdx')),
        size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
        checksum TEXT,
        source TEXT,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );

      CREATE TABLE vms (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        host_id TEXT REFERENCES hosts (id) ON DELETE RESTRICT,
        state TEXT NOT NULL,
        desired_state TEXT NOT NULL CHECK (desired_state IN ('running', 'stopped')),
        spec JSON NOT NULL,
        disks JSON NOT NULL,
        nics JSON NOT NULL,
        snapshots JSON NOT NULL,
        runtime JSON NOT NULL DEFAULT '{}',
        moving_to TEXT REFERENCES hosts (id) ON DELETE SET NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX vms_host ON vms (host_id);

      CREATE TABLE operations (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        target_type TEXT NOT NULL,
        target_id TEXT NOT NULL,
        target_name TEXT,
        host_id TEXT,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        progress DOUBLE PRECISION NOT NULL CHECK (progress >= 0 AND progress <= 1),
        message TEXT NOT NULL,
        steps JSON NOT NULL,
        result JSON NOT NULL,
        error JSON,
        actor TEXT NOT NULL,
        cancel_requested BOOLEAN NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX operations_state ON operations (state);
      CREATE INDEX operations_target ON operations (target_type, target_id);
      CREATE INDEX operations_created ON operations (created_at);

      CREATE TABLE events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        object_type TEXT NOT NULL,
        object_id TEXT,
        object_name TEXT,
        action TEXT NOT NULL,
        host_id TEXT,
        result TEXT NOT NULL,
        request_id TEXT,
        detail JSON NOT NULL
      );
      CREATE INDEX events_object_id ON events (object_type, object_id);
      CREATE INDEX events_object_name ON events (object_type, object_name);
      CREATE INDEX events_host ON events (host_id);
      CREATE INDEX events_actor ON events (actor);
      CREATE INDEX events_time ON events (time);

      CREATE TABLE tokens (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT,
        last_used_at TEXT
      );
      -- A revoked token keeps its name for the audit trail; only active names must be unique.
      CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL;

      CREATE TABLE join_tokens (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT,
        used_by_host_id TEXT
      );
      CREATE INDEX join_tokens_expires ON join_tokens (expires_at);

      -- No foreign keys: a VM's history outlives the VM and the hosts it was on.
      CREATE TABLE placements (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
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
        detail JSON NOT NULL
      );
      CREATE INDEX placements_vm ON placements (vm_id, started_at);
      CREATE UNIQUE INDEX placements_open ON placements (vm_id) WHERE ended_at IS NULL;

      CREATE TABLE cluster_settings (
        name TEXT PRIMARY KEY,
        value JSON NOT NULL,
        updated_at TEXT NOT NULL
      );

      -- VM addresses on a network live in the VMs' nics JSON, so a VM and its address go together.
      CREATE TABLE networks (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        subnet TEXT NOT NULL,
        vni INTEGER NOT NULL UNIQUE CHECK (vni BETWEEN 1 AND 16777215),
        mtu INTEGER NOT NULL CHECK (mtu BETWEEN 576 AND 9000),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'several controllers: their registry, the leader lease, operation owners',
    sql: `
      CREATE TABLE controllers (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        version TEXT NOT NULL,
        started_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
      );
      -- One row: the leader's lease and its fencing token.
      CREATE TABLE leader_lease (
        name TEXT PRIMARY KEY CHECK (name = 'leader'),
        holder TEXT NOT NULL,
        token BIGINT NOT NULL CHECK (token >= 1),
        acquired_at TEXT NOT NULL,
        renewed_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
      );
      -- The controller that runs an operation; older ones have none.
      ALTER TABLE operations ADD COLUMN owner TEXT;
      CREATE INDEX operations_owner ON operations (owner);
    `,
  },
  {
    version: 3,
    name: 'VMs listed a page at a time, filtered by state',
    sql: `
      -- GET /vms pages are ordered by name byte by byte whatever the locale, as on SQLite; this index orders them.
      CREATE INDEX vms_name_bytes ON vms (name COLLATE "C");
      CREATE INDEX vms_state ON vms (state);
    `,
  },
  {
    version: 4,
    name: 'Hosts and VMs found by when they last changed',
    sql: `
      -- The controller's copy of the fleet (cluster/fleet.ts) asks for the latest change and reads what changed since.
      CREATE INDEX vms_updated_at ON vms (updated_at);
      CREATE INDEX hosts_updated_at ON hosts (updated_at);
    `,
  },
];

/** An arbitrary constant: the advisory lock that makes concurrent controllers migrate one at a time. */
const MIGRATION_LOCK = 0x6472_6f76;

/**
 * Brings the database to the latest version, one transaction per migration (the change and its
 * `schema_migrations` row commit together), under an advisory lock so that controllers starting
 * together migrate once. Returns the versions applied; STORE_SCHEMA_TOO_NEW for a newer database.
 */
export async function applyPgMigrations(client: pg.ClientBase, migrations: readonly Migration[] = PG_MIGRATIONS): Promise<number[]> {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new DroverError('INTERNAL', `migration "${migration.name}" has version ${migration.version}, expected ${index + 1}`);
  });
  const known = migrations.at(-1)?.version ?? 0;
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const atStart = await pgSchemaVersion(client);
    if (atStart > known) throw new DroverError('STORE_SCHEMA_TOO_NEW', `database schema version ${atStart}, this controller knows up to ${known}`);
    const applied: number[] = [];
    for (const migration of migrations) {
      if (migration.version <= atStart) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, new Date().toISOString()]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      applied.push(migration.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}

/** The version the database is at, 0 for a new one. */
export async function pgSchemaVersion(client: pg.ClientBase): Promise<number> {
  const result = await client.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
  return result.rows[0]?.version ?? 0;
}
