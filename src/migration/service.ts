/**
 * Live migration on one host agent: the registry of migrations, the outgoing and incoming sides, and the
 * settling of migrations a previous agent process left in flight.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DroverError } from '../shared/errors.js';
import { IncomingMigrations, type MigrationHost } from './incoming.js';
import { OUTGOING_MARKER, OutgoingMigrations, type OutgoingMarker, type OutgoingRun } from './outgoing.js';
import { PeerAgent } from './peer.js';
import { Migration, MigrationRegistry } from './progress.js';
import { queryMigrate } from './qmp.js';
import type { VmView } from '../vms/schemas.js';
import type { IncomingPlan, IncomingRequest, MigrateRequest, MigrationView } from './schemas.js';

/** Everything about live migration one host agent does. */
export class MigrationService {
  readonly registry = new MigrationRegistry();
  private readonly host: MigrationHost;
  private readonly incoming: IncomingMigrations;
  private readonly outgoing: OutgoingMigrations;

  constructor(deps: Omit<MigrationHost, 'registry'>) {
    this.host = { ...deps, registry: this.registry };
    this.incoming = new IncomingMigrations(this.host);
    this.outgoing = new OutgoingMigrations(this.host);
  }

  /** Stops background waits; call when the agent closes. */
  close(): void {
    this.outgoing.close();
  }

  /** Every migration this host remembers, oldest first. */
  list(): MigrationView[] {
    return this.registry.list().map((m) => m.view());
  }

  /** One migration; MIGRATION_NOT_FOUND if unknown here. */
  get(id: string): MigrationView {
    return this.registry.get(id).view();
  }

  /** Starts migrating VM `name` away (source side); returns at once. */
  migrate(name: string, request: MigrateRequest): MigrationView {
    return this.outgoing.start(name, request).view();
  }

  /** Prepares this host to receive a VM (destination side). */
  prepareIncoming(request: IncomingRequest, listenAddress: string, sourceAddress: string): Promise<IncomingPlan> {
    return this.incoming.prepare(request, listenAddress, sourceAddress);
  }

  /** Runs a received guest here and takes the VM over (destination side). */
  finishIncoming(id: string): Promise<VmView> {
    return this.incoming.finish(id);
  }

  /** Cancels a migration on either side: rolls an outgoing one back, drops an incoming one. */
  async cancel(id: string): Promise<MigrationView> {
    const migration = this.registry.get(id);
    if (migration.direction === 'incoming') return this.incoming.abort(id, 'cancelled by the source or on request');
    return this.outgoing.cancel(id).view();
  }

  /** The unfinished outgoing migration of VM `name`; MIGRATION_NOT_FOUND if none. */
  activeFor(name: string): MigrationView {
    const found = this.registry.active(name, 'outgoing');
    if (!found) throw new DroverError('MIGRATION_NOT_FOUND', `${name} is not migrating`);
    return found.view();
  }

  /**
   * After an agent restart: cleans up or publishes incoming VMs, and settles every outgoing migration a marker
   * names, from its QEMU's migration status (in the background, so the agent starts serving at once).
   */
  async recover(): Promise<void> {
    await this.incoming.recover();
    const { records, vms, registry } = this.host;
    for (const record of records.list()) {
      const file = path.join(records.vmDir(record.name), OUTGOING_MARKER);
      if (!fs.existsSync(file)) continue;
      let marker: OutgoingMarker;
      try {
        // Written by OutgoingMigrations.start on this host.
        marker = JSON.parse(fs.readFileSync(file, 'utf8')) as OutgoingMarker;
      } catch {
        fs.rmSync(file, { force: true });
        continue;
      }
      const migration = registry.add(new Migration(marker.migrationId, 'outgoing', { id: record.id, name: record.name }, marker.storage, marker.destination.agentUrl));
      const run: OutgoingRun = {
        migration, record, release: vms.holdForMigration(record.name), mirrors: [], resume: marker.resume, prepared: true, switchedOver: false,
        peer: new PeerAgent(marker.destination.agentUrl, marker.destination.token),
      };
      void this.settle(run);
    }
  }

  /** Picks an outgoing migration up where QEMU is: switch over a completed one, follow post-copy, undo the rest. */
  private async settle(run: OutgoingRun): Promise<void> {
    const { driver, records } = this.host;
    try {
      if (!['running', 'paused'].includes(driver.status(run.record.id).state)) {
        fs.rmSync(path.join(records.vmDir(run.record.name), OUTGOING_MARKER), { force: true });
        run.migration.set('failed', new DroverError('MIGRATION_FAILED', 'the VM\'s QEMU exited while the host agent was down'));
        return;
      }
      const qmp = await driver.qmp(run.record.id);
      const info = await queryMigrate(qmp);
      run.migration.update(info);
      run.mirrors = (await qmp.execute('query-block-jobs')).filter((j) => j.device.startsWith('mirror-')).map((j) => j.device.slice('mirror-'.length));
      if (info.status === 'completed') return await this.outgoing.switchover(run);
      if (info.status?.startsWith('postcopy')) {
        await this.outgoing.postcopy(run, qmp);
        return await this.outgoing.switchover(run);
      }
      throw new DroverError('MIGRATION_FAILED', 'the host agent restarted during the migration');
    } catch (err) {
      await this.outgoing.undo(run, err);
    } finally {
      this.outgoing.release(run);
    }
  }
}
