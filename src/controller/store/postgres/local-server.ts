/**
 * A private PostgreSQL 15 server for tests and benchmarks: Debian's own binaries, a cluster in a
 * temporary directory, owned by the `postgres` user, listening on 127.0.0.1 at a free port. It is
 * stopped, and its directory removed, by `stop()`; nothing system-wide is touched.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, chownSync, writeFileSync, appendFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

const BIN = '/usr/lib/postgresql/15/bin';

export interface LocalPostgres {
  port: number;
  pid: number;
  /** A URL for a new, empty database on the server (created here). */
  createDatabase(name?: string): Promise<string>;
  /** The URL of the server's `postgres` database, for administration. */
  adminUrl: string;
  /** Stops the server the way an operator's `pg_ctl stop -m fast` does, keeping its data. */
  pause(): Promise<void>;
  /** Starts it again on the same port and data. */
  resume(): Promise<void>;
  /** Stops it at once (immediate shutdown, SIGKILL if that hangs) and removes its directory. */
  stop(): Promise<void>;
}

export function postgresAvailable(): boolean {
  return existsSync(path.join(BIN, 'postgres'));
}

function postgresUser(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

let databases = 0;

/** Initializes and starts a private server; fsync is off, as the data is thrown away. */
export async function startLocalPostgres(options: { fsync?: boolean } = {}): Promise<LocalPostgres> {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-pg-'));
  const data = path.join(dir, 'data');
  const { uid, gid } = postgresUser();
  chownSync(dir, uid, gid);
  execFileSync(path.join(BIN, 'initdb'), ['-D', data, '-U', 'drover', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { uid, gid, stdio: 'pipe', cwd: dir });
  const port = await freePort();
  appendFileSync(
    path.join(data, 'postgresql.conf'),
    [`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, `fsync = ${options.fsync ? 'on' : 'off'}`, 'max_connections = 200', ''].join('\n'),
  );
  writeFileSync(path.join(dir, 'README'), 'A private PostgreSQL cluster started by a Drover test or benchmark.\n');
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(path.join(BIN, 'postgres'), ['-D', data], { uid, gid, stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'drover', database: 'postgres' });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`PostgreSQL did not start on port ${port}: ${log}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  const waitExit = (process: ChildProcess | undefined): Promise<void> =>
    new Promise((resolve) => {
      if (!process || process.exitCode !== null || process.signalCode !== null) resolve();
      else process.once('exit', () => resolve());
    });
  try {
    await start();
  } catch (err) {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const adminUrl = `postgresql://drover@127.0.0.1:${port}/postgres`;
  return {
    port,
    get pid() {
      return child?.pid ?? 0;
    },
    adminUrl,
    async createDatabase(name = `drover_${process.pid}_${++databases}`) {
      const admin = new pg.Client({ host: '127.0.0.1', port, user: 'drover', database: 'postgres' });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return `postgresql://drover@127.0.0.1:${port}/${name}`;
    },
    async pause() {
      const running = child;
      running?.kill('SIGINT');
      await waitExit(running);
    },
    async resume() {
      await start();
    },
    async stop() {
      const running = child;
      // SIGQUIT is PostgreSQL's immediate shutdown: children and shared memory go with it.
      running?.kill('SIGQUIT');
      const killer = setTimeout(() => running?.kill('SIGKILL'), 10_000);
      await waitExit(running);
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
