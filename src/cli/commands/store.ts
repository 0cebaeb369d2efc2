import type { Command } from 'commander';
import { defaultDataDir } from '../../shared/paths.js';
import { withOutput, type OutputOptions } from '../options.js';
import { formatBytes, printJson } from '../output.js';

const STORE_HELP = 'the store: sqlite:PATH or postgresql://USER@HOST[,HOST2]/DB (default: $DROVER_STORE, else SQLite in the data dir)';

interface StoreOptions extends OutputOptions {
  store?: string;
  dataDir: string;
}

/** The store a command works on, chosen the way `drover up` chooses it: --store, $DROVER_STORE, the data dir's SQLite file. */
async function storeUrl(opts: { store?: string; dataDir: string }): Promise<string> {
  if (opts.store) return opts.store;
  if (process.env.DROVER_STORE) return process.env.DROVER_STORE;
  const { defaultStoreUrl } = await import('../../controller/store/open.js');
  return defaultStoreUrl(opts.dataDir);
}

/** Adds --store and --data-dir, which together name the store as `drover up` would. */
function withStore(command: Command): Command {
  return withOutput(command.option('--store <url>', STORE_HELP).option('--data-dir <dir>', 'the data directory whose SQLite store is the default', defaultDataDir()));
}

/**
 * `drover store copy|backup|restore`. Unlike the other commands these open the store directly
 * (like `drover up`), not through a controller's API: they run on the machine that has the store
 * (or reaches its database). The store code is loaded on use, so other commands do not pay for it.
 */
export function registerStoreCommands(program: Command): void {
  const store = program.command('store').description("The controller's store itself: move it to PostgreSQL, back it up, restore it (run where the store is)");

  const copy = store
    .command('copy')
    .description('Copy every record to an empty store, e.g. from the embedded SQLite to PostgreSQL; the source may be in use by a running controller')
    .option('--from <url>', `the source; ${STORE_HELP}`)
    .requiredOption('--to <url>', 'the destination, new or empty: postgresql://USER@HOST[,HOST2]/DB or sqlite:PATH')
    .option('--data-dir <dir>', 'the data directory whose SQLite store is the default source', defaultDataDir());
  withOutput(copy).action(async (opts: OutputOptions & { from?: string; to: string; dataDir: string }) => {
    const from = await storeUrl({ store: opts.from, dataDir: opts.dataDir });
    const { copyStore } = await import('../../controller/store/transfer.js');
    const summary = await copyStore(from, opts.to, { onTable: (table, rows) => process.stderr.write(`${table}: ${rows} row${rows === 1 ? '' : 's'}\n`) });
    if (opts.output === 'json') return printJson(summary);
    const total = Object.values(summary.tables).reduce((sum, rows) => sum + rows, 0);
    process.stdout.write(`copied ${total} rows in ${Object.keys(summary.tables).length} tables from ${summary.from} to ${summary.to}\n`);
    process.stdout.write('Stop the old controller, then start it on the copy with the same data directory: drover up --store URL (or DROVER_STORE=URL)\n');
  });

  withStore(store.command('backup').description('Write a backup of the store to FILE, while the controller runs (SQLite online backup, or pg_dump)').argument('<file>', 'the backup file; replaced only once the new backup is whole')).action(
    async (file: string, opts: StoreOptions) => {
      const { backupStore } = await import('../../controller/store/backup.js');
      const summary = await backupStore(await storeUrl(opts), file);
      if (opts.output === 'json') return printJson(summary);
      process.stdout.write(`backed up ${summary.store} to ${summary.file} (${formatBytes(summary.bytes)}, schema version ${summary.schemaVersion})\n`);
    },
  );

  withStore(
    store
      .command('restore')
      .description('Replace the store with the backup in FILE; stop every controller using the store first (refused while one holds it)')
      .argument('<file>', 'a backup written by `drover store backup` for the same engine'),
  ).action(async (file: string, opts: StoreOptions) => {
    const { restoreStore } = await import('../../controller/store/backup.js');
    const summary = await restoreStore(await storeUrl(opts), file);
    if (opts.output === 'json') return printJson(summary);
    process.stdout.write(`restored ${summary.store} from ${summary.file} (schema version ${summary.schemaVersion})\n`);
  });
}
