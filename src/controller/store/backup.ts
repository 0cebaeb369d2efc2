/**
 * Backups of the controller's store (`drover store backup|restore`), with each engine's own tool:
 * SQLite's online backup API, which copies a consistent image while a controller keeps writing,
 * and pg_dump's custom format with pg_restore. A backup file is written under a temporary name
 * and renamed into place, so a failure never leaves a partial file under FILE; a restore checks
 * that the file is a Drover store of the right engine before it changes anything.
 */
import { execFile } from 'node:child_process';
import { constants, existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { DroverError } from '../../shared/errors.js';
import { latestVersion } from './migrations.js';
import { clientConfig, findServer, parseStoreUrl, type StoreLocation } from './postgres/connection.js';
import { PG_MIGRATIONS } from './postgres/migrations.js';

const run = promisify(execFile);

type Engine = StoreLocation['engine'];
type PgLocation = Extract<StoreLocation, { engine: 'postgresql' }>;

export interface BackupSummary {
  engine: Engine;
  /** The store, without its password. */
  store: string;
  /** The backup file, absolute. */
  file: string;
  bytes: number;
  /** The store's schema version as recorded in the backup. */
  schemaVersion: number;
}

/** Writes a backup of the store at `url` to `file` (replacing it only once the backup is whole). */
export async function backupStore(url: string, file: string): Promise<BackupSummary> {
  const location = parseStoreUrl(url);
  const target = path.resolve(file);
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}`);
  try {
    const schemaVersion = location.engine === 'sqlite' ? await backupSqlite(location.path, temporary) : await backupPostgres(location, temporary);
    await fsyncFile(temporary);
    await fs.rename(temporary, target);
    await fsyncFile(path.dirname(target));
    return { engine: location.engine, store: display(location), file: target, bytes: (await fs.stat(target)).size, schemaVersion };
  } finally {
    await fs.rm(temporary, { force: true });
  }
}

/**
 * Replaces the store at `url` with the backup in `file`. Every controller using the store must be
 * stopped first: a controller found holding it is STORE_IN_USE. STORE_BACKUP_NOT_FOUND and
 * STORE_BACKUP_INVALID (not a Drover backup, or one of the other engine) change nothing.
 */
export async function restoreStore(url: string, file: string): Promise<BackupSummary> {
  const location = parseStoreUrl(url);
  const source = path.resolve(file);
  const engine = await backupEngine(source);
  if (engine !== location.engine) {
    const hint = engine === 'sqlite' ? 'restore it into an SQLite store, then `drover store copy` it' : 'restore it into a PostgreSQL database';
    throw new DroverError('STORE_BACKUP_INVALID', `${source} is a ${engine} backup and ${display(location)} a ${location.engine} store: ${hint}`);
  }
  const schemaVersion = location.engine === 'sqlite' ? await restoreSqlite(source, location.path) : await restorePostgres(source, location);
  return { engine, store: display(location), file: source, bytes: (await fs.stat(source)).size, schemaVersion };
}

function display(location: StoreLocation): string {
  return location.engine === 'sqlite' ? `sqlite:${path.resolve(location.path)}` : location.display;
}

/** Which engine wrote the backup, by the file's first bytes. */
async function backupEngine(file: string): Promise<Engine> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY);
  } catch (err) {
    throw new DroverError('STORE_BACKUP_NOT_FOUND', `${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await handle.read(head, 0, 16, 0);
    const text = head.subarray(0, bytesRead).toString('latin1');
    if (text === 'SQLite format 3\0') return 'sqlite';
    if (text.startsWith('PGDMP')) return 'postgresql';
    throw new DroverError('STORE_BACKUP_INVALID', `${file} is neither an SQLite database nor a pg_dump custom-format archive`);
  } finally {
    await handle.close();
  }
}

// SQLite

async function backupSqlite(file: string, temporary: string): Promise<number> {
  if (!existsSync(file)) throw new DroverError('STORE_NOT_FOUND', `${file} does not exist`);
  const db = new Database(file, { fileMustExist: true, timeout: 5000 });
  try {
    if (!hasMigrationsTable(db)) throw new DroverError('STORE_NOT_FOUND', `${file} has no Drover schema`);
    await db.backup(temporary);
  } finally {
    db.close();
  }
  // A self-contained file: rollback journal, so the backup needs no -wal file beside it.
  return checkSqliteStore(temporary, { journalMode: 'DELETE' });
}

/**
 * Checks that `file` is a sound Drover SQLite store this controller can open and returns its schema
 * version; STORE_BACKUP_INVALID otherwise, STORE_SCHEMA_TOO_NEW for a newer one.
 */
function checkSqliteStore(file: string, options: { journalMode?: 'DELETE' } = {}): number {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    if (!hasMigrationsTable(db)) throw new DroverError('STORE_BACKUP_INVALID', `${file} is an SQLite database without a Drover schema`);
    const problems = (db.pragma('integrity_check') as { integrity_check: string }[]).map((row) => row.integrity_check);
    if (problems.join() !== 'ok') throw new DroverError('STORE_BACKUP_INVALID', `${file} fails SQLite's integrity check: ${problems.slice(0, 3).join('; ')}`);
    const version = Number((db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number | null }).version ?? 0);
    if (version < 1) throw new DroverError('STORE_BACKUP_INVALID', `${file} has an empty Drover schema`);
    if (version > latestVersion()) throw new DroverError('STORE_SCHEMA_TOO_NEW', `the backup's schema version is ${version}, this Drover knows up to ${latestVersion()}`);
    if (options.journalMode) db.pragma(`journal_mode = ${options.journalMode}`);
    return version;
  } catch (err) {
    if (err instanceof DroverError) throw err;
    throw new DroverError('STORE_BACKUP_INVALID', `${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    db?.close();
  }
}

function hasMigrationsTable(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
}

async function restoreSqlite(backup: string, target: string): Promise<number> {
  const store = path.resolve(target);
  await fs.mkdir(path.dirname(store), { recursive: true, mode: 0o700 });
  const temporary = path.join(path.dirname(store), `.${path.basename(store)}.restore-${process.pid}`);
  try {
    await fs.copyFile(backup, temporary);
    const version = checkSqliteStore(temporary);
    await fsyncFile(temporary);
    if (existsSync(store)) assertSqliteNotInUse(store);
    // The old database's WAL must not outlive it: SQLite would replay it onto the restored file.
    for (const suffix of ['-wal', '-shm', '-journal']) await fs.rm(`${store}${suffix}`, { force: true });
    await fs.rename(temporary, store);
    await fsyncFile(path.dirname(store));
    return version;
  } finally {
    await fs.rm(temporary, { force: true });
  }
}

/**
 * STORE_IN_USE when another connection (a running controller) has the file open: in WAL mode every
 * open connection holds a shared lock, so an exclusive one is refused at once.
 */
function assertSqliteNotInUse(file: string): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('ROLLBACK');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw new DroverError('STORE_IN_USE', `${file} is open in another process`, { cause: err });
    // Anything else (a damaged file) is what the restore replaces.
  } finally {
    db?.close();
  }
}

// PostgreSQL

/** pg_dump and pg_restore from the newest PostgreSQL installed, which can read every older server. */
function pgTool(name: 'pg_dump' | 'pg_restore'): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const tool = path.join(root, version, 'bin', name);
    if (existsSync(tool)) return tool;
  }
  throw new DroverError('DEPENDENCY_MISSING', `${name} (Debian's postgresql-client) is not installed`);
}

/** libpq options and environment for the location's first usable server; the password goes in the environment, never argv. */
async function pgConnection(location: PgLocation, application: string): Promise<{ args: string[]; env: NodeJS.ProcessEnv; config: pg.ClientConfig }> {
  const index = await findServer(location, 3000);
  const config = { ...clientConfig(location, index, 3000), application_name: application };
  const args = ['--host', String(config.host), '--port', String(config.port), '--dbname', String(config.database), '--no-password'];
  if (config.user) args.push('--username', config.user);
  const env: NodeJS.ProcessEnv = { ...process.env, PGAPPNAME: application, PGCONNECT_TIMEOUT: '5' };
  if (location.password) env.PGPASSWORD = location.password;
  return { args, env, config };
}

async function runTool(tool: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  try {
    return (await run(tool, args, { env, maxBuffer: 64 * 2 ** 20 })).stdout;
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new DroverError('STORE_BACKUP_FAILED', `${path.basename(tool)}: ${stderr || (err as Error).message}`, { cause: err });
  }
}

async function backupPostgres(location: PgLocation, temporary: string): Promise<number> {
  const { args, env } = await pgConnection(location, 'drover-store-backup');
  await runTool(pgTool('pg_dump'), ['--format=custom', `--file=${temporary}`, ...args], env);
  const version = await dumpSchemaVersion(temporary);
  if (version < 1) throw new DroverError('STORE_NOT_FOUND', `${location.display} has no Drover schema`);
  return version;
}

/** The highest schema_migrations version in a pg_dump archive; 0 when it has none. STORE_BACKUP_INVALID when pg_restore cannot read it. */
async function dumpSchemaVersion(file: string): Promise<number> {
  let copy: string;
  try {
    copy = (await run(pgTool('pg_restore'), ['--data-only', '--table=schema_migrations', '--file=-', file], { maxBuffer: 16 * 2 ** 20 })).stdout;
  } catch (err) {
    if (err instanceof DroverError) throw err;
    throw new DroverError('STORE_BACKUP_INVALID', `${file}: ${String((err as { stderr?: unknown }).stderr ?? (err as Error).message).trim()}`, { cause: err });
  }
  // The table's data is a COPY block: one tab-separated line per migration, ending with `\.`.
  const block = /^COPY public\.schema_migrations .*FROM stdin;\n([\s\S]*?)^\\\.$/m.exec(copy)?.[1] ?? '';
  return Math.max(0, ...block.split('\n').filter(Boolean).map((line) => Number(line.split('\t')[0])));
}

async function restorePostgres(backup: string, location: PgLocation): Promise<number> {
  const version = await dumpSchemaVersion(backup);
  if (version < 1) throw new DroverError('STORE_BACKUP_INVALID', `${backup} is a pg_dump archive without a Drover schema`);
  const known = PG_MIGRATIONS.at(-1)?.version ?? 0;
  if (version > known) throw new DroverError('STORE_SCHEMA_TOO_NEW', `the backup's schema version is ${version}, this Drover knows up to ${known}`);
  const { args, env, config } = await pgConnection(location, 'drover-store-restore');
  await assertPostgresNotInUse(config, location.display);
  // One transaction: a restore that fails part-way changes nothing.
  await runTool(pgTool('pg_restore'), ['--clean', '--if-exists', '--single-transaction', '--exit-on-error', '--no-owner', '--no-privileges', ...args, backup], env);
  return version;
}

/** STORE_IN_USE while a controller is connected to the database. */
async function assertPostgresNotInUse(config: pg.ClientConfig, where: string): Promise<void> {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      "SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'drover-controller' AND pid <> pg_backend_pid()",
    );
    const controllers = rows[0]?.n ?? 0;
    if (controllers > 0) throw new DroverError('STORE_IN_USE', `${where} has ${controllers} controller connection${controllers === 1 ? '' : 's'}`);
  } finally {
    await client.end();
  }
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.open(file, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
