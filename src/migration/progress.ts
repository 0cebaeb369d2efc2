/**
 * Migrations this host takes part in, in memory: state, progress from QEMU's statistics, result and error.
 * Each entry carries the AbortController its runner watches, so cancel is one call.
 */
import type { BlockJobInfo } from '../qmp/commands.js';
import { DroverError, ERRORS } from '../shared/errors.js';
import type { MigrationInfoWithSockets } from './qmp.js';
import type { MigrationProgress, MigrationResult, MigrationState, MigrationView, StorageMode } from './schemas.js';

/** States after which nothing more happens. */
const FINAL: readonly MigrationState[] = ['completed', 'failed', 'cancelled', 'unresolved'];
/** How many finished migrations each host remembers. */
const KEEP_FINISHED = 50;

/** One migration, outgoing or incoming, as this host sees it. */
export class Migration {
  state: MigrationState;
  progress: MigrationProgress = {
    pass: 0, ramTransferredBytes: 0, ramRemainingBytes: 0, ramTotalBytes: 0, dirtyPagesRate: 0, mbps: 0,
    cpuThrottlePercent: 0, postcopy: false, disks: [],
  };
  result: MigrationResult | undefined;
  error: DroverError | undefined;
  readonly startedAt = new Date().toISOString();
  finishedAt: string | undefined;
  /** How long the hand-over to the destination took (see MigrationResult.handoverMs). */
  handoverMs: number | undefined;
  /** How long the guest stood still across the hand-over (see MigrationResult.pausedMs). */
  pausedMs: number | undefined;
  private maxThrottle = 0;
  /** Aborted by cancel(); the runner checks it between steps and while it waits. */
  readonly abort = new AbortController();

  constructor(
    readonly id: string,
    readonly direction: 'outgoing' | 'incoming',
    readonly vm: { id: string; name: string },
    readonly storage: StorageMode,
    readonly peer: string,
  ) {
    this.state = direction === 'outgoing' ? 'preparing' : 'receiving';
  }

  /** True once the migration reached a final state. */
  get finished(): boolean {
    return FINAL.includes(this.state);
  }

  /** Moves to `state`; a final state stamps finishedAt and keeps `error` as the cause. */
  set(state: MigrationState, error?: DroverError): void {
    if (this.finished) return;
    this.state = state;
    if (error) this.error = error;
    if (this.finished) this.finishedAt = new Date().toISOString();
  }

  /** Settles an unresolved migration once the destination said where the guest runs; any other state is left as it is. */
  settle(state: 'completed' | 'failed', error?: DroverError): void {
    if (this.state !== 'unresolved') return;
    this.state = state;
    this.error = error;
    this.finishedAt = new Date().toISOString();
  }

  /** Folds one query-migrate answer (and the disk mirrors' jobs) into the progress. */
  update(info: MigrationInfoWithSockets, jobs: BlockJobInfo[] = []): void {
    const ram = info.ram;
    this.progress = {
      ...this.progress,
      ...(info.status ? { qemuStatus: info.status } : {}),
      ...(ram
        ? {
            pass: ram['dirty-sync-count'],
            ramTransferredBytes: ram.transferred,
            ramRemainingBytes: ram.remaining,
            ramTotalBytes: ram.total,
            dirtyPagesRate: ram['dirty-pages-rate'],
            mbps: ram.mbps,
          }
        : {}),
      cpuThrottlePercent: info['cpu-throttle-percentage'] ?? 0,
      ...(info['expected-downtime'] !== undefined ? { expectedDowntimeMs: info['expected-downtime'] } : {}),
      postcopy: this.progress.postcopy || (info.status ?? '').startsWith('postcopy'),
    };
    this.maxThrottle = Math.max(this.maxThrottle, this.progress.cpuThrottlePercent);
    if (jobs.length > 0) {
      this.progress.disks = jobs.map((j) => ({ name: j.device.replace(/^mirror-/, ''), copiedBytes: j.offset, totalBytes: j.len, ready: j.ready }));
    }
    if (info.status === 'completed') {
      this.result = {
        totalTimeMs: info['total-time'] ?? 0,
        downtimeMs: info.downtime ?? 0,
        setupTimeMs: info['setup-time'] ?? 0,
        ramTransferredBytes: ram?.transferred ?? 0,
        passes: ram?.['dirty-sync-count'] ?? 0,
        postcopy: this.progress.postcopy,
        maxCpuThrottlePercent: this.maxThrottle,
      };
    }
  }

  /** The API view. */
  view(): MigrationView {
    return {
      id: this.id,
      direction: this.direction,
      vm: this.vm,
      storage: this.storage,
      state: this.state,
      peer: this.peer,
      startedAt: this.startedAt,
      ...(this.finishedAt ? { finishedAt: this.finishedAt } : {}),
      progress: this.progress,
      ...(this.result
        ? {
            result: {
              ...this.result,
              ...(this.handoverMs !== undefined ? { handoverMs: this.handoverMs } : {}),
              ...(this.pausedMs !== undefined ? { pausedMs: this.pausedMs } : {}),
            },
          }
        : {}),
      ...(this.error
        ? { error: { code: this.error.code, message: ERRORS[this.error.code].message, ...(this.error.detail ? { detail: this.error.detail } : {}) } }
        : {}),
    };
  }
}

/**
 * The migrations this host knows, newest last; finished ones beyond KEEP_FINISHED are forgotten.
 * An unresolved one is still being settled (the source asks the destination), so it is kept.
 */
export class MigrationRegistry {
  private readonly entries = new Map<string, Migration>();

  /** Records a new migration. */
  add(migration: Migration): Migration {
    this.entries.set(migration.id, migration);
    const finished = [...this.entries.values()].filter((m) => m.finished && m.state !== 'unresolved');
    for (const old of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.entries.delete(old.id);
    return migration;
  }

  /** The migration `id`; MIGRATION_NOT_FOUND if this host has none by that id. */
  get(id: string): Migration {
    const found = this.entries.get(id);
    if (!found) throw new DroverError('MIGRATION_NOT_FOUND', id);
    return found;
  }

  /** The migration `id`, or undefined. */
  find(id: string): Migration | undefined {
    return this.entries.get(id);
  }

  /** Every remembered migration, oldest first. */
  list(): Migration[] {
    return [...this.entries.values()];
  }

  /** The unfinished migration of VM `name` in `direction`, if any. */
  active(name: string, direction: 'outgoing' | 'incoming'): Migration | undefined {
    return this.list().find((m) => m.vm.name === name && m.direction === direction && !m.finished);
  }
}

/** Normalizes anything thrown into a DroverError with `fallback` as the code. */
export function asDroverError(err: unknown, fallback: DroverError['code'], context: string): DroverError {
  if (err instanceof DroverError) return err;
  return new DroverError(fallback, `${context}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
