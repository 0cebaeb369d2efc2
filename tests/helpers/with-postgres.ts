/**
 * Runs a command with a private PostgreSQL 15 server up, its admin URL in DROVER_TEST_POSTGRES,
 * then stops the server and removes its files: `node --import tsx tests/helpers/with-postgres.ts CMD ARGS...`.
 * Exits with the command's status.
 */
import { spawn } from 'node:child_process';
import { startLocalPostgres } from '../../src/controller/store/postgres/local-server.js';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  process.stderr.write('usage: with-postgres.ts COMMAND [ARGS...]\n');
  process.exit(2);
}
const server = await startLocalPostgres();
process.stderr.write(`[with-postgres] PostgreSQL 15 on 127.0.0.1:${server.port} (pid ${server.pid})\n`);
const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, DROVER_TEST_POSTGRES: server.adminUrl } });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
const status = await new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
await server.stop();
process.exit(status);
