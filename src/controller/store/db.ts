import Database from 'better-sqlite3';
import { DroverError } from '../../shared/errors.js';

export type SqliteDatabase = Database.Database;

export interface OpenDatabaseOptions {
  /** How long a writer waits for another process's lock before failing; default 5 s. */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) the controller's SQLite file with the settings its durability relies on.
 *
 * - WAL journal: a commit is one append to the -wal file and readers never block the writer. A
 *   process killed mid-write (kill -9) leaves at most a torn tail in the WAL, which SQLite discards
 *   on the next open because its checksum fails, so the database reopens at the last commit.
 * - synchronous=FULL: in WAL mode NORMAL is already safe against kill -9, but it may lose the
 *   last commits (never corrupt) on power loss or a kernel crash. The controller acknowledges an
 *   operation with 202 only after it is committed, so that acknowledgement must outlive the
 *   machine too: FULL fsyncs the WAL on every commit. Controller write rates (API calls,
 *   heartbeats, progress) are far below what an fsync per commit costs.
 * - foreign_keys on (SQLite defaults to off), and a busy timeout so a second process (a backup,
 *   a CLI inspecting the file) makes writers wait instead of fail.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const db = new Database(file, { timeout: busyTimeoutMs });
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    // An in-memory database reports `memory`: it has no file to protect.
    if (mode !== 'wal' && !(file === ':memory:' && mode === 'memory')) {
      throw new DroverError('INTERNAL', `SQLite refused WAL mode for ${file} (got ${String(mode)})`);
    }
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Runs SQLite's own consistency check; returns `['ok']` for a sound file, else the problems found. */
export function integrityCheck(db: SqliteDatabase): string[] {
  const rows = db.pragma('integrity_check') as { integrity_check: string }[];
  return rows.map((row) => row.integrity_check);
}
