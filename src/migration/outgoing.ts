/**
 * The source side of a live migration, as a state machine:
 *   preparing → [mirroring] → migrating → [postcopy] → switching-over → completed
 * Before switchover every failure or cancel rolls back (rolling-back → failed | cancelled): QEMU's migration is
 * cancelled, disk mirrors stopped, the destination told to clean up, and the guest keeps running here. The point
 * of no return is the destination's finish (or post-copy, which runs the guest there); only after it is the
 * source QEMU stopped and the VM's record removed. A finish whose answer is lost leaves the VM paused here and
 * the migration 'unresolved', because resuming it could run the guest twice; the VM stays held until the
 * destination says where the guest runs (unresolved.ts). A dropped network blocks QEMU's stream instead of failing
 * it, so a stream that moves nothing for a while before switchover is rolled back too (MIGRATION_STALLED, stall.ts);
 * a rollback shuts the disk mirrors' connections down first (yank), so no disk request waits on the dead network.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { QmpClient } from '../qmp/client.js';
import { DroverError, isDroverError } from '../shared/errors.js';
import type { VmRecord } from '../vms/records.js';
import { identify } from './compat.js';
import type { MigrationHost } from './incoming.js';
import { PeerAgent, PeerError } from './peer.js';
import { asDroverError, Migration } from './progress.js';
import { delay, queryMigrate, setCapabilities, setParameters, startPostcopy, Waker, type MigrationInfoWithSockets } from './qmp.js';
import { recordToWire, type MigrateRequest, type MigrationView } from './schemas.js';
import { abortMirrors, yankMirrorTargets, completeMirrors, describeDisks, startMirrors, waitMirrorsReady } from './storage-copy.js';
import { DEFAULT_STALL_MS, StallWatch } from './stall.js';
import { settleHandover, type UnresolvedHandover } from './unresolved.js';

/** The file in a migrating VM's directory that lets a restarted agent finish or undo the migration. */
export const OUTGOING_MARKER = 'outgoing-migration.json';
const POLL_MS = 500;
const DEFAULT_POSTCOPY_AFTER_PASSES = 8;
const MAX_CPU_THROTTLE = 99;
const QEMU_DEFAULT_DOWNTIME_MS = 300;
const QEMU_DEFAULT_BANDWIDTH = 128 * 1024 * 1024;
/** How often, and for how long, a destination that could not be told to drop a rolled-back migration is asked again. */
const ABORT_RETRY_MS = 5_000;
const ABORT_RETRY_FOR_MS = 10 * 60_000;
/** How often the destination is asked about a hand-over whose answer was lost. */
const SETTLE_POLL_MS = 2_000;
/** Destination errors that guarantee the guest did not and will not run there. */
const REFUSALS = new Set(['MIGRATION_FAILED', 'MIGRATION_NOT_FOUND', 'MIGRATION_CANCELLED']);

/** What the marker file holds. */
export interface OutgoingMarker {
  migrationId: string;
  destination: { agentUrl: string; token: string };
  storage: MigrateRequest['storage'];
  resume: boolean;
}

/** One outgoing migration in flight. */
export interface OutgoingRun {
  migration: Migration;
  record: VmRecord;
  peer: PeerAgent;
  release: () => void;
  /** Disks with a mirror job to the destination. */
  mirrors: string[];
  /** Run the guest again here if the migration is undone (it was running when it began). */
  resume: boolean;
  prepared: boolean;
  /** The guest may run on the destination from now on: no rollback any more. */
  switchedOver: boolean;
  /** When the source QEMU paused the guest (its STOP event's timestamp, ms since the epoch). */
  stoppedAt?: number;
  /** Stops following the source QEMU's STOP and RESUME events. */
  unwatchPause?: () => void;
}

/** Outgoing migrations on this host. */
export class OutgoingMigrations {
  /** Aborted when the agent closes: waits on unresolved hand-overs end. */
  private readonly closing = new AbortController();

  constructor(private readonly host: MigrationHost) {}

  /** Ends the waits on unresolved hand-overs; the agent is closing. */
  close(): void {
    this.closing.abort();
  }

  /**
   * Lets go of the VM once its migration ended, unless the hand-over is unresolved: resuming the guest then could
   * run it twice, so it stays held (kill still works) until the destination says where the guest runs.
   */
  release(run: OutgoingRun): void {
    run.unwatchPause?.();
    if (run.migration.state !== 'unresolved') return run.release();
    void settleHandover(this.handoverOf(run), SETTLE_POLL_MS, this.closing.signal)
      .then((settled) => {
        if (settled === 'runs-on-destination') run.migration.settle('completed');
        else if (settled === 'resumed-here') run.migration.settle('failed', new DroverError('MIGRATION_FAILED', 'the destination did not take the VM over; it was resumed here'));
        else if (settled === 'postcopy-lost') run.migration.settle('failed', new DroverError('MIGRATION_POSTCOPY_FAILED', 'the destination gave up after post-copy began; the guest cannot resume here'));
        else if (settled === 'killed-here') run.migration.settle('failed', new DroverError('MIGRATION_FAILED', 'the VM was killed here before the destination said whether it runs the guest'));
      })
      .finally(run.release);
  }

  /** The source side of an unresolved hand-over, for settleHandover. */
  private handoverOf(run: OutgoingRun): UnresolvedHandover {
    const { driver, vms, records } = this.host;
    const { record, migration } = run;
    return {
      postcopy: migration.progress.postcopy,
      askDestination: () => run.peer.get(migration.id),
      destinationRunsGuest: async () => {
        try {
          const there = await run.peer.vm(record.name);
          return there.id === record.id && ['running', 'paused'].includes(there.state);
        } catch (err) {
          if (isDroverError(err, 'VM_NOT_FOUND')) return false;
          throw err;
        }
      },
      stillHere: () => ['running', 'paused'].includes(driver.status(record.id).state),
      stopHere: async () => {
        await driver.kill(record.id);
        vms.removeMigratedAway(record.name, migration.storage === 'shared');
      },
      resumeHere: async () => {
        await abortMirrors(await driver.qmp(record.id), run.mirrors);
        if (run.resume) await (await driver.qmp(record.id)).execute('cont');
        fs.rmSync(path.join(records.vmDir(record.name), OUTGOING_MARKER), { force: true });
      },
    };
  }

  /** Starts migrating VM `name`; returns at once with the migration, whose progress GET /api/v1/migrations/:id shows. */
  start(name: string, request: MigrateRequest): Migration {
    const { vms, driver, registry } = this.host;
    const record = vms.record(name);
    const capabilities = vms.driverFor(name).capabilities;
    if (!capabilities.liveMigrate) {
      throw new DroverError(
        'GUEST_TYPE_UNSUPPORTED',
        `${name} cannot move while it runs: checkpointing a running ${record.type ?? 'vm'} (CRIU) does not work on these hosts${capabilities.coldMigrate ? '; it moves by a restart (cold migration) instead' : ''}`,
      );
    }
    const state = driver.status(record.id).state;
    if (state !== 'running' && state !== 'paused') throw new DroverError('VM_NOT_RUNNING', name);
    if (request.storage === 'shared' && !record.storageDir) {
      throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', `${name} keeps its disks in this host's own directory; migrate it with storage "copy"`);
    }
    const release = vms.holdForMigration(name);
    const id = crypto.randomUUID();
    const marker: OutgoingMarker = { migrationId: id, destination: request.destination, storage: request.storage, resume: state === 'running' };
    try {
      // The marker holds the destination's token, so only root may read it.
      fs.writeFileSync(path.join(this.host.records.vmDir(name), OUTGOING_MARKER), JSON.stringify(marker), { mode: 0o600 });
    } catch (err) {
      release();
      throw err;
    }
    const migration = registry.add(new Migration(id, 'outgoing', { id: record.id, name }, request.storage, request.destination.agentUrl));
    const run: OutgoingRun = {
      migration, record, release, mirrors: [], resume: state === 'running', prepared: false, switchedOver: false,
      peer: new PeerAgent(request.destination.agentUrl, request.destination.token),
    };
    void this.run(run, request);
    return migration;
  }

  /** Asks an outgoing migration to stop and roll back; MIGRATION_PAST_SWITCHOVER once the guest may run on the destination. */
  cancel(id: string): Migration {
    const migration = this.host.registry.get(id);
    if (migration.finished) throw new DroverError('MIGRATION_FINISHED', `${migration.id} is ${migration.state}`);
    if (['postcopy', 'switching-over'].includes(migration.state)) throw new DroverError('MIGRATION_PAST_SWITCHOVER', migration.vm.name);
    migration.abort.abort(new DroverError('MIGRATION_CANCELLED', 'cancelled on request'));
    return migration;
  }

  private async run(run: OutgoingRun, request: MigrateRequest): Promise<void> {
    try {
      await this.send(run, request);
      await this.switchover(run);
    } catch (err) {
      await this.undo(run, err);
    } finally {
      this.release(run);
    }
  }

  /** Everything up to QEMU's 'completed' (precopy) or the guest running on the destination (post-copy). */
  private async send(run: OutgoingRun, request: MigrateRequest): Promise<void> {
    const { driver, images } = this.host;
    const { migration, record } = run;
    const signal = migration.abort.signal;
    const qmp = await driver.qmp(record.id);
    const source = await identify(qmp, driver.accelerator);
    const disks = request.storage === 'copy' ? await describeDisks(qmp, record, images) : [];
    const boot = record.image && images.has(record.image) ? images.get(record.image) : undefined;
    const postcopy = request.postcopy ?? true;
    const guestStartedAt = driver.status(record.id).startedAt;
    const plan = await run.peer.prepare({
      migrationId: migration.id, vm: recordToWire(record), storage: request.storage, source, disks, postcopy, resume: run.resume,
      ...(guestStartedAt ? { guestStartedAt } : {}),
      ...(record.boot && boot ? { bootImage: { name: boot.name, sha256: boot.sha256 } } : {}),
    });
    run.prepared = true;
    signal.throwIfAborted();

    const speed = request.bandwidthMbps ? Math.round((request.bandwidthMbps * 1_000_000) / 8) : undefined;
    // Capabilities and parameters outlive a migration in QEMU, so every one Drover uses is set each time.
    await setCapabilities(qmp, { events: true, 'return-path': true, 'auto-converge': request.autoConverge ?? true, 'postcopy-ram': postcopy });
    await setParameters(qmp, {
      'downtime-limit': request.downtimeLimitMs ?? QEMU_DEFAULT_DOWNTIME_MS,
      'max-bandwidth': speed ?? QEMU_DEFAULT_BANDWIDTH,
      'max-postcopy-bandwidth': speed ?? 0,
    });
    if (plan.disks.length > 0) {
      migration.set('mirroring');
      run.mirrors = plan.disks.map((d) => d.name);
      await startMirrors(qmp, plan.disks, speed);
      const stall = new StallWatch(request.stallTimeoutMs ?? DEFAULT_STALL_MS);
      await waitMirrorsReady(qmp, run.mirrors, signal, (jobs) => {
        migration.update({}, jobs);
        stall.observe(jobs.reduce((sum, job) => sum + job.offset, 0), 'disk data');
      });
    }
    migration.set('migrating');
    const waker = new Waker();
    const stopWaking = qmp.on('MIGRATION', () => waker.fire());
    // The pause starts when QEMU stops the guest for the last pass (or for post-copy); QEMU stamps the event itself.
    // A pause that ends again before the switchover (a user's pause and resume) is not the hand-over's.
    const unwatchStop = qmp.on('STOP', (_data, event) => (run.stoppedAt ??= event.timestamp.seconds * 1000 + Math.floor(event.timestamp.microseconds / 1000)));
    const unwatchResume = qmp.on('RESUME', () => (run.stoppedAt = undefined));
    run.unwatchPause = () => {
      unwatchStop();
      unwatchResume();
    };
    try {
      await qmp.execute('migrate', { uri: plan.migrationUri });
      let postcopyRequested = false;
      const stall = new StallWatch(request.stallTimeoutMs ?? DEFAULT_STALL_MS);
      while (true) {
        const info = await this.poll(run, qmp);
        if (info.status === 'completed') return;
        // Before switchover a stalled stream can still be rolled back; post-copy must run to its end.
        if (info.status === 'setup' || info.status === 'active') stall.observe(info.ram?.transferred ?? 0, 'memory');
        if (info.status === 'failed' || info.status === 'cancelled') {
          throw new DroverError('MIGRATION_FAILED', `QEMU: ${info['error-desc'] ?? `migration ${info.status}`}`);
        }
        if (info.status === 'postcopy-active') return this.postcopy(run, qmp, waker);
        if (postcopy && !postcopyRequested && info.status === 'active' && this.shouldPostcopy(info, request)) {
          postcopyRequested = true;
          await startPostcopy(qmp);
        }
        await waker.wait(POLL_MS, signal);
      }
    } finally {
      stopWaking();
    }
  }

  /** Reads query-migrate (and mirror jobs) into the migration's progress. */
  private async poll(run: OutgoingRun, qmp: QmpClient): Promise<MigrationInfoWithSockets> {
    const info = await queryMigrate(qmp);
    const jobs = run.mirrors.length > 0 ? await qmp.execute('query-block-jobs') : [];
    run.migration.update(info, jobs);
    return info;
  }

  /**
   * Reads QEMU's final statistics into the result. Called after the hand-over, while the source QEMU still runs:
   * QEMU can say 'completed' a moment before it has filled in the final times, and waiting for them before the
   * hand-over would keep the guest paused that much longer. Never throws (the figures are a report, not a step).
   */
  private async finalStatistics(run: OutgoingRun): Promise<void> {
    try {
      const qmp = await this.host.driver.qmp(run.record.id);
      let info = await queryMigrate(qmp);
      for (let i = 0; i < 25 && info.status === 'completed' && !info['total-time']; i++) {
        await delay(20);
        info = await queryMigrate(qmp);
      }
      if (info.status === 'completed') run.migration.update(info);
    } catch {
      // The result keeps what the last poll saw.
    }
  }

  /** Post-copy once enough passes went by, or once auto-converge throttles all it can without converging. */
  private shouldPostcopy(info: MigrationInfoWithSockets, request: MigrateRequest): boolean {
    const passes = info.ram?.['dirty-sync-count'] ?? 0;
    const throttledOut = (info['cpu-throttle-percentage'] ?? 0) >= MAX_CPU_THROTTLE;
    return passes >= (request.postcopyAfterPasses ?? DEFAULT_POSTCOPY_AFTER_PASSES) || (throttledOut && passes >= 3);
  }

  /**
   * Post-copy has begun: the source is paused and the destination has the CPU state, so the guest must run there.
   * Completes the mirrors, has the destination run the guest, and waits for the last pages; any end but
   * 'completed' loses the guest, because its memory is split between the hosts.
   */
  async postcopy(run: OutgoingRun, qmp: QmpClient, waker = new Waker()): Promise<void> {
    run.switchedOver = true;
    run.migration.set('postcopy');
    await this.handover(run, qmp);
    while (true) {
      const info = await this.poll(run, qmp);
      if (info.status === 'completed') return;
      if (!info.status?.startsWith('postcopy')) {
        throw new DroverError('MIGRATION_POSTCOPY_FAILED', `QEMU: ${info['error-desc'] ?? info.status ?? 'unknown state'}`);
      }
      await waker.wait(POLL_MS);
    }
  }

  /** Precopy completed (or post-copy finished): hand the VM to the destination, then stop it here. */
  async switchover(run: OutgoingRun): Promise<void> {
    const { driver, vms } = this.host;
    if (!run.switchedOver) {
      run.migration.set('switching-over');
      run.switchedOver = true;
      await this.handover(run, await driver.qmp(run.record.id));
    }
    await this.finalStatistics(run);
    try {
      await driver.kill(run.record.id);
      vms.removeMigratedAway(run.record.name, run.migration.storage === 'shared');
      run.migration.set('completed');
    } catch (err) {
      // The VM runs on the destination whatever happens here; what is left is local clean-up for a person.
      run.migration.set('completed', asDroverError(err, 'INTERNAL', `${run.record.name} runs on the destination, but removing it here failed`));
    }
  }

  /** Completes the mirrors (the guest is paused here, so the copies are exact), then has the destination run the guest. */
  private async handover(run: OutgoingRun, qmp: QmpClient): Promise<void> {
    const started = Date.now();
    if (run.mirrors.length > 0) await completeMirrors(qmp, run.mirrors);
    await this.finishDestination(run);
    const finished = Date.now();
    run.migration.handoverMs = finished - started;
    if (run.stoppedAt !== undefined) run.migration.pausedMs = Math.max(0, finished - run.stoppedAt);
  }

  /**
   * Tells the destination to run the guest. Resolves when it did; throws a rollback-safe error when the destination
   * refused or never got the request (the guest did not run there); throws MIGRATION_UNRESOLVED when that is unknown.
   */
  private async finishDestination(run: OutgoingRun): Promise<void> {
    let delivered = false;
    let last: unknown;
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        await run.peer.finish(run.migration.id);
        return;
      } catch (err) {
        last = err;
        if (isDroverError(err) && REFUSALS.has(err.code)) throw this.refused(run, err);
        delivered ||= !(err instanceof PeerError) || err.delivered;
        await delay(1_000);
      }
    }
    const view = await run.peer.get(run.migration.id).catch((err: unknown) => (isDroverError(err, 'MIGRATION_NOT_FOUND') ? 'gone' : undefined));
    if (view !== undefined && view !== 'gone' && view.state === 'completed') return;
    if (!delivered || view === 'gone' || (view && ['failed', 'cancelled'].includes(view.state))) throw this.refused(run, asDroverError(last, 'HOST_UNREACHABLE', 'finish'));
    throw new DroverError('MIGRATION_UNRESOLVED', `the destination ${run.peer.url} did not confirm it runs the guest: ${(last as Error)?.message}`);
  }

  /** A refusal at precopy switchover is still safe to undo (the guest ran nowhere): mark it so undo() resumes it here. */
  private refused(run: OutgoingRun, err: DroverError): DroverError {
    if (run.migration.state !== 'postcopy') run.switchedOver = false;
    return new DroverError('MIGRATION_FAILED', `the destination did not take the VM over (${err.message})`, { cause: err });
  }

  /** The destination's view once it has settled (it notices its own QEMU's end a moment later), or undefined. */
  private async destinationOutcome(run: OutgoingRun): Promise<MigrationView | undefined> {
    for (let i = 0; i < 10; i++) {
      const view = await run.peer.get(run.migration.id).catch(() => undefined);
      if (!view || view.state !== 'receiving') return view;
      await delay(200);
    }
    return undefined;
  }

  /**
   * Keeps asking the destination to drop its side of a rolled-back migration until it answers (its QEMU would
   * otherwise wait for a stream that never comes), for up to ABORT_RETRY_FOR_MS or until the agent closes.
   */
  private abortLater(run: OutgoingRun): void {
    const until = Date.now() + ABORT_RETRY_FOR_MS;
    const signal = this.closing.signal;
    void (async () => {
      while (!signal.aborted && Date.now() < until) {
        try {
          await run.peer.abort(run.migration.id);
          return;
        } catch (err) {
          // Answered: it has already finished or forgotten the migration, so there is nothing to drop.
          if (isDroverError(err) && err.code !== 'HOST_UNREACHABLE' && err.code !== 'TIMEOUT') return;
        }
        await delay(ABORT_RETRY_MS, signal).catch(() => undefined);
      }
    })();
  }

  /** Rolls back, or records why it cannot (post-copy, unresolved); never throws. */
  async undo(run: OutgoingRun, err: unknown): Promise<void> {
    const { migration } = run;
    const cancelled = migration.abort.signal.aborted && !run.switchedOver;
    let error = cancelled ? new DroverError('MIGRATION_CANCELLED', 'cancelled on request') : asDroverError(err, 'MIGRATION_FAILED', 'migration');
    if (run.switchedOver) {
      // The guest's state may be on the destination: leave this QEMU as it is for a person to judge.
      if (error.code !== 'MIGRATION_UNRESOLVED') error = new DroverError('MIGRATION_POSTCOPY_FAILED', error.detail ?? error.message, { cause: err });
      migration.set(error.code === 'MIGRATION_UNRESOLVED' ? 'unresolved' : 'failed', error);
      return;
    }
    migration.set('rolling-back');
    const notes: string[] = [];
    // The destination goes first, so it records the cancel rather than its QEMU's exit when the stream stops.
    // A stalled stream most likely means the destination cannot be reached now: it is told once the rollback is done.
    if (run.prepared && error.code === 'MIGRATION_STALLED') {
      notes.push('the destination is told to clean up as soon as it can be reached');
      this.abortLater(run);
    } else if (run.prepared) {
      const there = error.code === 'MIGRATION_FAILED' ? await this.destinationOutcome(run) : undefined;
      if (there?.error?.detail) notes.push(`destination: ${there.error.detail}`);
      await run.peer.abort(migration.id).catch((e: Error) => {
        const why = isDroverError(e) ? (e.detail ?? e.code) : e.message;
        if (isDroverError(e, 'MIGRATION_FINISHED') || there?.error) return;
        notes.push(`the destination was not told to clean up (${why}); it is asked again until it answers`);
        this.abortLater(run);
      });
    }
    const qmp = await this.host.driver.qmp(run.record.id).catch(() => undefined);
    // Cut the mirrors' connections first (their targets are discarded anyway): cancelling the migration drains every
    // disk, and a drain waiting on a network that dropped would hold the guest and the monitor until TCP gives up.
    if (qmp && run.mirrors.length > 0) {
      await yankMirrorTargets(qmp).catch((e: Error) => notes.push(`shutting the disk copies' connections down failed: ${e.message}`));
    }
    const status = qmp ? (await queryMigrate(qmp).catch(() => undefined))?.status : undefined;
    if (qmp && status && ['setup', 'active', 'pre-switchover', 'device', 'wait-unplug'].includes(status)) {
      await qmp.execute('migrate_cancel').catch(() => undefined);
      for (let i = 0; i < 50 && ['active', 'cancelling', 'setup'].includes((await queryMigrate(qmp).catch(() => undefined))?.status ?? ''); i++) await delay(100);
    }
    await abortMirrors(qmp, run.mirrors);
    // QEMU resumes a guest that was running when its migration fails or is cancelled; after a completed precopy it does not.
    if (qmp && run.resume && !(await qmp.execute('query-status').catch(() => ({ running: true }))).running) {
      await qmp.execute('cont').catch((e: Error) => notes.push(`resuming the guest here failed: ${e.message}`));
    }
    fs.rmSync(path.join(this.host.records.vmDir(run.record.name), OUTGOING_MARKER), { force: true });
    if (notes.length > 0) error = new DroverError(error.code, [error.detail, ...notes].filter(Boolean).join('; '), { cause: err });
    migration.set(cancelled ? 'cancelled' : 'failed', error);
  }
}
