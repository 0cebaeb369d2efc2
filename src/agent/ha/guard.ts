/**
 * The host's side of HA (src/ha/README.md, "The agent's side of the contract"). Every second it:
 *
 * 1. renews the host's lease with the controller, listing every VM the host runs, and pushes a full
 *    report of the host and its VMs (what the controller would otherwise poll) when the VMs change,
 *    when the controller asks, and at the report interval;
 * 2. writes the host's heartbeat slot in its shared pool;
 * 3. once the lease has lapsed by its own clock, refuses every start and resume, and kills the HA
 *    guests whose isolation response is power-off; once the storage heartbeat has lapsed too, it
 *    kills every HA guest, and keeps doing so until the lease is renewed (self-fence);
 * 4. kills any instance whose generation was superseded on shared storage (a failover happened
 *    while this host was cut off or frozen), and forgets the stale definition;
 * 5. feeds the watchdog, but only while it has done all of the above, so a hung host is reset.
 *
 * Every start or resume of a VM carrying a generation goes through `beforeStart`/`beforeResume`:
 * the generation is checked against the VM's record on shared storage and claimed there.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ControllerUrls } from '../../shared/controller-urls.js';
import { DroverError } from '../../shared/errors.js';
import { checkStartGeneration } from '../../ha/generation.js';
import { DEFAULT_HA_TIMINGS } from '../../ha/timings.js';
import { leaseCredential, type HostReport, type LeaseAnswer, type LeaseRenewal, type LeaseVm } from '../../controller/ha/lease-schema.js';
import type { VmView } from '../../vms/schemas.js';
import type { GuestDrivers } from '../../drivers/registry.js';
import type { VmRecord, VmRecords } from '../../vms/records.js';
import type { Watchdog } from '../watchdog.js';
import { claimGeneration, readGeneration, readSlots, writePortableRecord, writeSlot, type HeartbeatSlot } from './shared-records.js';

type Isolation = LeaseAnswer['haVms'][number]['isolation'];
type AgentTimings = LeaseAnswer['timings'];

/** What the guard remembers across agent restarts, in `<dataDir>/ha-lease.json`. */
interface SavedLease {
  /** When the last renewal the controller accepted was sent (this host's clock, ms). */
  acceptedAt: number;
  haVms: Record<string, Isolation>;
  /** The VMs under guest monitoring, by name. */
  monitored?: string[];
  timings: AgentTimings;
}

export interface HaGuardOptions {
  hostName: string;
  /** The controller's URL, or several separated by commas (controllers sharing one store): renewals go to the first that takes them. */
  controllerUrl: string;
  agentToken: string;
  dataDir: string;
  sharedStorageDir?: string;
  records: VmRecords;
  drivers: GuestDrivers;
  watchdog: Watchdog;
  logger?: Logger;
  /** Where the pushed report's parts come from; without it the host only renews, and the controller polls it. */
  reporter?: HostReporter;
}

/** The parts of a pushed report: the VM list is read every second to notice changes, the rest only when a report goes out. */
export interface HostReporter {
  vms(): VmView[];
  host(): Promise<HostReport['host']>;
  stats(): Promise<HostReport['stats']>;
}

/** The report interval until the controller says otherwise. */
const DEFAULT_REPORT_INTERVAL_MS = 5_000;

/** A report built and not yet taken by the controller. */
interface PendingReport {
  report: Omit<HostReport, 'ageMs'>;
  fingerprint: string;
  collectedAt: number;
}

const LIVE = new Set(['running', 'paused', 'starting', 'stopping']);

/** A VM whose QEMU runs here, in any state, as one tick sees it. */
interface LiveVm {
  record: VmRecord;
  state: string;
  guestReady: boolean;
  startedAt?: string;
}

export class HostHaGuard {
  private saved: SavedLease;
  private seq = 0;
  private storageWrittenAt: number | undefined;
  private renewing = false;
  private timer: NodeJS.Timeout | undefined;
  /** HA guests killed because the host lost both lease and storage heartbeat; latched until a renewal. */
  private selfFenced = false;
  /** VM ids that must not run, and since when; the watchdog is fed only while none of them still does after a grace. */
  private readonly mustStop = new Map<string, number>();
  private readonly file: string;
  /** When each monitored guest's agent last answered a ping (this host's clock), by VM id. */
  private readonly guestAnswers = new Map<string, number>();
  private readonly pinging = new Set<string>();
  private readonly controllers: ControllerUrls;
  /** The VM list of the last report the controller took, and when it was collected. */
  private reported: { fingerprint: string; collectedAt: number } | undefined;
  private reportWanted = true;
  private pendingReport: PendingReport | undefined;
  private building: Promise<void> | undefined;

  constructor(private readonly opts: HaGuardOptions) {
    this.file = path.join(opts.dataDir, 'ha-lease.json');
    this.saved = this.load();
    this.controllers = new ControllerUrls(opts.controllerUrl);
  }

  /** The controller URL renewals go to now: the one that took the last renewal, or the first given. */
  get controllerUrl(): string {
    return this.controllers.current;
  }

  /** Arms the watchdog and starts the one-second loop. */
  async start(): Promise<void> {
    if (this.opts.watchdog.present && !this.opts.watchdog.armed) await this.opts.watchdog.arm(Math.max(1, Math.floor(this.saved.timings.selfFenceMs / 1000)));
    this.timer = setInterval(() => this.tick(), this.saved.timings.leaseIntervalMs);
    this.tick();
  }

  /** Stops the loop and disarms the watchdog: an agent stopped on purpose does not reset its host. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.opts.watchdog.disarm();
  }

  /** True when the lease has lapsed by this host's clock: it must start and resume nothing. */
  leaseLapsed(now = Date.now()): boolean {
    return now - this.saved.acceptedAt > this.saved.timings.leaseExpiryMs;
  }

  /**
   * Checks that `record` may start at `generation` here and claims the generation on shared
   * storage; returns the record as it must be saved. A VM that once ran under HA and is started
   * without a generation keeps its last one, and is refused if that was superseded.
   */
  beforeStart(record: VmRecord, generation: number | undefined): VmRecord {
    const wanted = generation ?? record.haGeneration;
    if (wanted === undefined) return record;
    if (this.leaseLapsed()) throw new DroverError('HA_LEASE_LOST', this.leaseText());
    if (!record.storageDir) throw new DroverError('HA_DISK_NOT_SHARED', `${record.name} keeps its disks on this host only`);
    const newest = readGeneration(record.storageDir);
    const verdict = checkStartGeneration(record.name, wanted, newest?.generation);
    if (!verdict.allowed) throw new DroverError(verdict.code, `${verdict.reason} (generation ${newest?.generation} is on ${newest?.host})`);
    const updated: VmRecord = { ...record, haGeneration: wanted };
    claimGeneration(record.storageDir, wanted, this.opts.hostName);
    writePortableRecord(record.storageDir, updated);
    this.mustStop.delete(record.id);
    return updated;
  }

  /** A resume is a start for never-twice purposes: refused without a lease, or at a superseded generation. */
  beforeResume(record: VmRecord): void {
    if (record.haGeneration === undefined) return;
    if (this.leaseLapsed()) throw new DroverError('HA_LEASE_LOST', this.leaseText());
    const newest = record.storageDir ? readGeneration(record.storageDir) : undefined;
    const verdict = checkStartGeneration(record.name, record.haGeneration, newest?.generation);
    if (!verdict.allowed) throw new DroverError(verdict.code, verdict.reason);
  }

  private leaseText(): string {
    const { acceptedAt } = this.saved;
    return acceptedAt === 0 ? `${this.opts.hostName} has not renewed its lease with the controller yet` : `${this.opts.hostName} last renewed its lease ${((Date.now() - acceptedAt) / 1000).toFixed(1)} s ago`;
  }

  /** The heartbeat slots of every host in this host's shared pool, for the controller. */
  slots(): HeartbeatSlot[] {
    if (!this.opts.sharedStorageDir) return [];
    return readSlots(this.opts.sharedStorageDir);
  }

  /** What `ha status` shows of this host's own view. */
  status(): { leaseAgeMs: number; leaseLapsed: boolean; selfFenced: boolean; watchdog: boolean; storageWrittenAgoMs: number | null } {
    const now = Date.now();
    return {
      leaseAgeMs: now - this.saved.acceptedAt,
      leaseLapsed: this.leaseLapsed(now),
      selfFenced: this.selfFenced,
      watchdog: this.opts.watchdog.armed,
      storageWrittenAgoMs: this.storageWrittenAt === undefined ? null : now - this.storageWrittenAt,
    };
  }

  private tick(): void {
    const now = Date.now();
    // One look at the host's VMs serves the whole tick.
    const live = this.liveVms();
    this.pingMonitored(live);
    void this.renew(now, live);
    this.writeHeartbeat(now, live);
    const done = this.enforce(now, live);
    if (done) this.opts.watchdog.feed();
  }

  private liveVms(): LiveVm[] {
    const out: LiveVm[] = [];
    for (const record of this.opts.records.list()) {
      const status = this.opts.drivers.for(record).status(record.id);
      if (LIVE.has(status.state)) out.push({ record, state: status.state, guestReady: status.guestReady, ...(status.startedAt ? { startedAt: status.startedAt } : {}) });
    }
    return out;
  }

  private async renew(sentAt: number, live: LiveVm[]): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      const vms: LeaseVm[] = live.map(({ record, state, guestReady, startedAt }) => ({
        name: record.name,
        id: record.id,
        state,
        guestReady,
        ...(record.haGeneration !== undefined ? { generation: record.haGeneration } : {}),
        ...(startedAt ? { startedAt } : {}),
        ...(this.guestAnswers.get(record.id) !== undefined ? { guestAnsweredAgoMs: Math.max(0, sentAt - (this.guestAnswers.get(record.id) ?? sentAt)) } : {}),
      }));
      const { leaseIntervalMs, leaseExpiryMs } = this.saved.timings;
      // Building a report (usage counters ask each guest's monitor) must not hold a renewal up for long: past half an interval it goes with the next one.
      const pending = await this.reportToSend(sentAt, leaseIntervalMs / 2);
      const body: LeaseRenewal = {
        host: this.opts.hostName,
        vms,
        watchdog: this.opts.watchdog.armed,
        leaseLost: this.leaseLapsed(sentAt),
        ...(pending ? { report: { ...pending.report, ageMs: Math.max(0, Date.now() - pending.collectedAt) } } : {}),
      };
      const urls = this.controllers.urls.length;
      const before = this.controllers.current;
      const res = await this.controllers.fetch({
        method: 'POST',
        path: '/api/v1/ha/lease',
        headers: { authorization: `Bearer ${leaseCredential(this.opts.agentToken)}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        // A renewal restates the host's whole state, so a second controller may get it even if the first did too.
        idempotent: true,
        // Every controller that does not connect costs at most its share of half an interval, so the renewal still lands in its interval;
        // one that connects but hangs costs at most its share of the renewal's time, so the next one still gets its turn.
        ...(urls > 1 ? { connectTimeoutMs: Math.max(50, Math.floor(leaseIntervalMs / (2 * urls))), answerTimeoutMs: Math.max(250, Math.floor(leaseExpiryMs / (2 * urls))) } : {}),
        // A renewal that answers after the lease would have lapsed anyway proves nothing.
        signal: AbortSignal.timeout(Math.max(500, leaseExpiryMs / 2)),
      });
      if (this.controllers.current !== before) this.opts.logger?.warn({ from: before, to: this.controllers.current }, 'lease renewals moved to another controller');
      if (!res.ok) {
        this.opts.logger?.warn({ status: res.status, body: (await res.text()).slice(0, 300) }, 'lease renewal refused');
        return;
      }
      const answer = (await res.json()) as LeaseAnswer;
      if (pending) {
        this.reported = { fingerprint: pending.fingerprint, collectedAt: pending.collectedAt };
        if (this.pendingReport === pending) this.pendingReport = undefined;
      }
      this.reportWanted = answer.reportWanted === true;
      const wasLapsed = this.leaseLapsed();
      this.saved = {
        acceptedAt: Math.max(this.saved.acceptedAt, sentAt),
        haVms: Object.fromEntries(answer.haVms.map((v) => [v.name, v.isolation])),
        monitored: answer.haVms.filter((v) => v.monitoring).map((v) => v.name),
        timings: answer.timings,
      };
      this.adoptGenerations(answer.haVms);
      this.selfFenced = false;
      this.save();
      if (wasLapsed) this.opts.logger?.info('lease renewed after it had lapsed');
    } catch (err) {
      this.opts.logger?.debug({ err }, 'lease renewal failed');
    } finally {
      this.renewing = false;
    }
  }

  /**
   * The report to send with this renewal, if one is due: the VMs changed since the last report the
   * controller took, the controller asked for one, or the report interval passed. Built once
   * however many renewals wait for it; undefined when it is not ready within `waitMs`.
   */
  private async reportToSend(now: number, waitMs: number): Promise<PendingReport | undefined> {
    const reporter = this.opts.reporter;
    if (!reporter) return undefined;
    const vms = reporter.vms();
    const fingerprint = JSON.stringify(vms);
    const interval = this.saved.timings.reportIntervalMs ?? DEFAULT_REPORT_INTERVAL_MS;
    const due = this.reportWanted || !this.reported || this.reported.fingerprint !== fingerprint || now - this.reported.collectedAt >= interval;
    if (!due) return undefined;
    if (this.pendingReport?.fingerprint === fingerprint && now - this.pendingReport.collectedAt < interval) return this.pendingReport;
    this.building ??= (async () => {
      const collectedAt = Date.now();
      const [host, stats] = await Promise.all([reporter.host(), reporter.stats()]);
      this.pendingReport = { report: { host, vms, stats }, fingerprint, collectedAt };
    })()
      .catch((err: unknown) => this.opts.logger?.warn({ err }, 'building the host report failed'))
      .finally(() => (this.building = undefined));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.building, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    return this.pendingReport?.fingerprint === fingerprint ? this.pendingReport : undefined;
  }

  /** Pings the guest agent of every running VM under guest monitoring, one ping in flight per VM; a QEMU that started again forgets its old answers. */
  private pingMonitored(live: LiveVm[]): void {
    const monitored = new Set(this.saved.monitored ?? []);
    for (const { record, startedAt } of live) {
      const answered = this.guestAnswers.get(record.id);
      if (answered !== undefined && startedAt && Date.parse(startedAt) > answered) this.guestAnswers.delete(record.id);
      if (!monitored.has(record.name) || this.pinging.has(record.id)) continue;
      this.pinging.add(record.id);
      void this.opts.drivers
        .for(record)
        .pingGuest(record.id, 3_000)
        .then((answeredNow) => {
          if (answeredNow) this.guestAnswers.set(record.id, Date.now());
        })
        .finally(() => this.pinging.delete(record.id));
    }
  }

  /** A VM HA protects while it runs (HA switched on after its start) takes the generation HA issued for it, so it is guarded from now on. */
  private adoptGenerations(haVms: LeaseAnswer['haVms']): void {
    for (const { name, generation } of haVms) {
      if (generation < 1) continue;
      const record = this.opts.records.read(name);
      if (!record?.storageDir || record.haGeneration !== undefined || !LIVE.has(this.opts.drivers.for(record).status(record.id).state)) continue;
      const newest = readGeneration(record.storageDir);
      if (newest && newest.generation > generation) continue;
      const updated = { ...record, haGeneration: generation };
      claimGeneration(record.storageDir, generation, this.opts.hostName);
      writePortableRecord(record.storageDir, updated);
      this.opts.records.write(updated);
    }
  }

  private writeHeartbeat(now: number, live: LiveVm[]): void {
    const shared = this.opts.sharedStorageDir;
    if (!shared) return;
    try {
      const vms = live
        .filter(({ record }) => record.haGeneration !== undefined)
        .map(({ record }) => ({ name: record.name, id: record.id, generation: record.haGeneration ?? 0 }));
      writeSlot(shared, { host: this.opts.hostName, seq: ++this.seq, leaseLost: this.leaseLapsed(now), vms, writtenAt: new Date(now).toISOString() });
      this.storageWrittenAt = now;
    } catch (err) {
      this.opts.logger?.warn({ err }, 'cannot write the storage heartbeat');
    }
  }

  /** Does what the lease and the generations require; true when nothing that must be dead still runs past its grace. */
  private enforce(now: number, live: LiveVm[]): boolean {
    const { timings } = this.saved;
    const lapsed = this.leaseLapsed(now);
    const storageLapsed = this.storageWrittenAt === undefined || now - this.storageWrittenAt > timings.storageHeartbeatExpiryMs;
    if (lapsed && storageLapsed && !this.selfFenced && this.opts.sharedStorageDir) {
      this.selfFenced = true;
      this.opts.logger?.error('lease and storage heartbeat lapsed: killing every HA guest (self-fence)');
    }
    for (const { record } of live) {
      const reason = this.mustNotRun(record, lapsed);
      if (!reason) continue;
      if (!this.mustStop.has(record.id)) {
        this.mustStop.set(record.id, now);
        this.opts.logger?.warn({ vm: record.name, reason }, 'killing an HA guest');
      }
      void this.opts.drivers.for(record).kill(record.id).catch((err: unknown) => this.opts.logger?.error({ err, vm: record.name }, 'killing an HA guest failed'));
    }
    this.forgetSuperseded();
    const stateOf = (id: string) => this.statusById(id).state;
    const stillRunning = [...this.mustStop].filter(([id, since]) => LIVE.has(stateOf(id)) && now - since > timings.selfFenceMs / 2);
    for (const [id] of this.mustStop) if (!LIVE.has(stateOf(id))) this.mustStop.delete(id);
    return stillRunning.length === 0;
  }

  /** The status of the guest with runtime id `id`, from whichever driver knows it running. */
  private statusById(id: string): { state: string } {
    for (const driver of this.opts.drivers.all()) {
      const status = driver.status(id);
      if (LIVE.has(status.state)) return status;
    }
    return { state: 'stopped' };
  }

  /** Why `record`'s running instance must be killed now, or undefined. */
  private mustNotRun(record: VmRecord, lapsed: boolean): string | undefined {
    if (record.haGeneration === undefined) return undefined;
    if (record.storageDir) {
      const newest = readGeneration(record.storageDir);
      if (newest && newest.generation > record.haGeneration) return `generation ${newest.generation} was started on ${newest.host}; this instance runs ${record.haGeneration}`;
    }
    const isolation = this.saved.haVms[record.name];
    if (isolation === undefined) return undefined;
    if (this.selfFenced) return 'the host lost its lease and its storage heartbeat';
    if (lapsed && isolation === 'power-off') return 'the host lost its lease and the VM\'s isolation response is power-off';
    return undefined;
  }

  /** Removes the local definition of every stopped VM whose generation another host has claimed since; its disks stay. */
  private forgetSuperseded(): void {
    for (const record of this.opts.records.list()) {
      if (record.haGeneration === undefined || !record.storageDir) continue;
      if (LIVE.has(this.opts.drivers.for(record).status(record.id).state)) continue;
      const newest = readGeneration(record.storageDir);
      if (!newest || newest.generation <= record.haGeneration || newest.host === this.opts.hostName) continue;
      this.opts.drivers.for(record).forget(record.id);
      fs.rmSync(this.opts.records.vmDir(record.name), { recursive: true, force: true });
      this.opts.logger?.info({ vm: record.name, generation: newest.generation, host: newest.host }, 'forgot a VM that HA restarted on another host');
    }
  }

  private load(): SavedLease {
    const fallback: SavedLease = { acceptedAt: 0, haVms: {}, timings: agentTimings() };
    try {
      const saved = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Partial<SavedLease>;
      if (typeof saved.acceptedAt !== 'number' || typeof saved.haVms !== 'object' || !saved.haVms || !saved.timings) return fallback;
      return saved as SavedLease;
    } catch {
      return fallback;
    }
  }

  private save(): void {
    const temporary = `${this.file}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(this.saved));
    fs.renameSync(temporary, this.file);
  }
}

/** The timings an agent keeps before the controller first answered it. */
export function agentTimings(): AgentTimings {
  const t = DEFAULT_HA_TIMINGS;
  return {
    leaseIntervalMs: t.leaseIntervalMs,
    leaseExpiryMs: t.leaseExpiryMs,
    storageHeartbeatIntervalMs: t.storageHeartbeatIntervalMs,
    storageHeartbeatExpiryMs: t.storageHeartbeatExpiryMs,
    selfFenceMs: t.selfFenceMs,
  };
}
