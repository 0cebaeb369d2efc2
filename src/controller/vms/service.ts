import { guestCapabilities } from '../../drivers/capabilities.js';
import { randomUUID } from 'node:crypto';
import { DroverError } from '../../shared/errors.js';
import { validateName } from '../../shared/names.js';
import type { VmView } from '../../vms/schemas.js';
import type { Actor } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import type { HostService } from '../hosts/service.js';
import type { AgentClient } from '../hosts/agent-client.js';
import type { OperationRunner } from '../operations/runner.js';
import { now, type JsonValue, type OperationRecord, type PlacementRecord, type VmPlacementRules, type VmRecord, type VmState } from '../store/records.js';
import type { Store, VmPageFilter } from '../store/store.js';
import { mbitToKbit } from '../../network/rate-units.js';
import { recordGuestReady } from './guest-ready.js';
import { assignNetworkNics, networkNicsOf, nicRecords, prepareNetworksOnHost, refreshNetworkPeers } from '../networks/attach.js';
import { startMigration } from './migrate.js';
import { placeNewVm } from './place.js';
import type { FleetMirror } from '../cluster/fleet.js';
import { recordPlacement } from './placements.js';
import type { CreateVmBody, MigrateVmBody, UpdateVmBody, UpdateVmLimitsBody, VmListQuery } from './schema.js';
import { decodeVmCursor, encodeVmCursor } from './cursor.js';
import type { HaService } from '../ha/service.js';
import { validateHaProtection } from '../../ha/protection.js';
import { readClusterView, vmView } from '../cluster/view.js';
import type { HostRecord, VmHaPolicy, VmSpec } from '../store/records.js';

const MiB = 1024 * 1024;
const LIVE: readonly VmState[] = ['running', 'paused', 'starting', 'stopping'];
type Action = 'start' | 'kill' | 'reboot' | 'pause' | 'resume';

/** The spec field for `rules`, empty rules leaving it out. */
function placementRules(rules: CreateVmBody['placement']): { placement?: VmPlacementRules } {
  const kept: VmPlacementRules = {
    ...(rules?.requiredTags?.length ? { requiredTags: rules.requiredTags } : {}),
    ...(rules?.affinityGroups?.length ? { affinityGroups: rules.affinityGroups } : {}),
    ...(rules?.antiAffinityGroups?.length ? { antiAffinityGroups: rules.antiAffinityGroups } : {}),
  };
  return Object.keys(kept).length ? { placement: kept } : {};
}

/** The controller's VM service: places VMs on hosts and turns every change into an operation. */
export class VmService {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly operations: OperationRunner,
    private readonly hosts: HostService,
    private readonly fleet: FleetMirror,
    private readonly ha?: HaService,
  ) {}

  async list(): Promise<VmRecord[]> {
    return this.store.vms.list();
  }

  /**
   * One page of VMs by name, filtered; `next` is the cursor of the page after it (null on the last).
   * Without `limit`, every matching VM after the cursor. A host that does not exist has no VMs.
   */
  async page(query: VmListQuery): Promise<{ vms: VmRecord[]; next: string | null }> {
    const filter: VmPageFilter = {};
    if (query.after !== undefined) filter.afterName = decodeVmCursor(query.after);
    if (query.state !== undefined) filter.state = query.state;
    if (query.type !== undefined) filter.type = query.type;
    if (query.host !== undefined) {
      const host = await this.store.hosts.getByName(query.host);
      if (!host) return { vms: [], next: null };
      filter.hostId = host.id;
    }
    if (query.limit === undefined) return { vms: await this.store.vms.page(filter), next: null };
    // One more than asked tells whether another page follows.
    const found = await this.store.vms.page({ ...filter, limit: query.limit + 1 });
    const vms = found.slice(0, query.limit);
    const last = vms.at(-1);
    return { vms, next: found.length > query.limit && last ? encodeVmCursor(last.name) : null };
  }

  async get(name: string): Promise<VmRecord> {
    const vm = await this.store.vms.getByName(name);
    if (!vm) throw new DroverError('VM_NOT_FOUND', name);
    return vm;
  }

  /** Records the VM (state creating) and starts the operation that defines it on its host. */
  async create(body: CreateVmBody, actor: Actor): Promise<{ operation: OperationRecord; vm: VmRecord }> {
    validateName('VM', body.name);
    requireFitsGuestType(body);
    if (await this.store.vms.getByName(body.name)) throw new DroverError('VM_EXISTS', body.name);
    const memoryMiB = body.memoryMiB ?? 256;
    const now = new Date().toISOString();
    const vm: VmRecord = {
      id: randomUUID(),
      name: body.name,
      hostId: null,
      state: 'creating',
      desiredState: body.start ? 'running' : 'stopped',
      spec: {
        ...(body.type && body.type !== 'vm' ? { type: body.type } : {}),
        ...(body.privileged ? { privileged: true } : {}),
        ...(body.pidsLimit ? { pidsLimit: body.pidsLimit } : {}),
        ...(body.cpuLimitPercent ? { cpuLimitPercent: body.cpuLimitPercent } : {}),
        cpus: body.cpus ?? 1,
        memoryBytes: memoryMiB * MiB,
        imageId: body.image ?? null,
        devices: body.devices ?? 'virtio',
        ...(body.pool ? { pool: body.pool } : {}),
        ...placementRules(body.placement),
        ...(body.ha ? { ha: haPolicy(undefined, body.ha) } : {}),
      },
      disks: [],
      nics: [],
      snapshots: [],
      runtime: {},
      movingTo: null,
      createdAt: now,
      updatedAt: now,
    };
    return this.store.transaction(async (tx) => {
      // Placed inside the transaction, so concurrent creates see each other (capacity, anti-affinity). The VMs
      // are the fleet copy's when the transaction's stamp matches it: a create must not parse 30,000 records.
      const others = await this.fleet.vmsIn(tx);
      const placement = await placeNewVm(tx, vm, body.host, others);
      const host = placement.host;
      vm.hostId = host.id;
      if (vm.spec.ha) {
        await requireProtectable(tx, vm, host);
        if (body.start) await this.ha?.requireAdmission(vm, tx);
      }
      // Assigned in the transaction that records them, so no two VMs get one address.
      const networks = await assignNetworkNics(tx, vm.id, body.networks ?? [], others);
      vm.nics = networks.nics;
      await tx.vms.insert(vm);
      const operation = await this.operations.start({
        kind: 'create',
        target: { type: 'vm', id: vm.id, name: vm.name },
        actor,
        hostId: host.id,
        busyError: 'VM_BUSY',
        tx,
        work: async (ctx) => {
          // Registered first, so a host that cannot be reached leaves no record behind either.
          ctx.onUndo('record the VM', async () => {
            await this.store.vms.delete(vm.id);
            await this.store.placements.close(vm.id, new Date().toISOString());
          });
          const agent = await this.hosts.client(host.id);
          await prepareNetworksOnHost(this.store, this.hosts, vm, host.id);
          await ctx.progress(0.1, `creating disks on ${host.name}`);
          const created = await agent.createVm({
            name: vm.name,
            ...(vm.spec.type ? { type: vm.spec.type } : {}),
            ...(body.privileged ? { privileged: true } : {}),
            ...(body.pidsLimit ? { pidsLimit: body.pidsLimit } : {}),
            ...(body.swapMiB !== undefined ? { swapMiB: body.swapMiB } : {}),
            ...(body.image ? { image: body.image } : {}),
            cpus: vm.spec.cpus,
            // The cluster baseline placement recorded: the host's QEMU presents exactly this model.
            ...(vm.spec.cpuModel ? { cpuModel: vm.spec.cpuModel } : {}),
            memoryMiB,
            ...(body.diskGiB ? { diskGiB: body.diskGiB } : {}),
            devices: vm.spec.devices ?? 'virtio',
            ...(body.clone ? { clone: body.clone } : {}),
            ...(body.portForwards ? { portForwards: body.portForwards } : {}),
            ...(body.diskBytesPerSecond || body.diskIops
              ? { diskThrottle: { ...(body.diskBytesPerSecond ? { bytesPerSecond: body.diskBytesPerSecond } : {}), ...(body.diskIops ? { iops: body.diskIops } : {}) } }
              : {}),
            ...(body.cpuLimitPercent ? { cpuLimitPercent: body.cpuLimitPercent } : {}),
            ...(body.cpuPinning ? { cpuPinning: body.cpuPinning } : {}),
            ...(body.pool ? { pool: body.pool } : {}),
            ...(networks.agentNics.length ? { networkNics: networks.agentNics } : {}),
          });
          ctx.onUndo('define the VM on its host', () => agent.deleteVm(vm.name, true));
          await this.sync(vm.id, created);
          if (body.start) {
            ctx.throwIfCancelled();
            await ctx.progress(0.6, 'starting');
            await this.sync(vm.id, await agent.start(vm.name, await this.ha?.generationForStart(vm, host.id)));
          }
          return { vm: vm.name, host: host.name };
        },
      });
      await recordPlacement(tx, vm, host, { reason: body.host ? 'user' : 'scheduler', actor, operationId: operation.id, detail: placement.detail }, now);
      return { operation, vm };
    });
  }

  /** Start, kill, reboot, pause or resume as an operation. */
  async act(name: string, action: Action, actor: Actor): Promise<{ operation: OperationRecord; vm: VmRecord }> {
    const vm = await this.get(name);
    this.refuseWrongState(vm, action);
    const desired = action === 'start' || action === 'resume' || action === 'reboot' ? 'running' : action === 'kill' ? 'stopped' : vm.desiredState;
    if (action === 'start' && vm.spec.ha) await this.ha?.requireAdmission({ ...vm, desiredState: 'running' });
    return this.run(vm, action, actor, async (agent) => {
      if (action === 'start' && vm.hostId) await prepareNetworksOnHost(this.store, this.hosts, vm, vm.hostId);
      const view = action === 'start' && vm.hostId ? await agent.start(vm.name, await this.ha?.generationForStart(vm, vm.hostId)) : await agent.action(vm.name, action);
      await this.store.vms.update(vm.id, { desiredState: desired });
      await this.sync(vm.id, view);
      return { vm: vm.name };
    });
  }

  /**
   * Changes what PATCH /vms/:name gives: today the HA policy. Switching HA on checks the VM can be
   * protected (disks on a shared pool another host reaches) and, for a running VM, admission
   * control; a running VM then gets a generation, which its host's agent takes up with its next lease.
   */
  async update(name: string, body: UpdateVmBody, actor: Actor): Promise<VmRecord> {
    const vm = await this.get(name);
    if (body.ha === undefined) return vm;
    if (vm.state === 'creating' || vm.state === 'deleting') throw new DroverError('VM_BUSY', `${vm.name} is ${vm.state}`);
    const { ha: previous, ...rest } = vm.spec;
    const spec: VmSpec = body.ha === null ? rest : { ...rest, ha: haPolicy(previous, body.ha) };
    const updated = await this.store.transaction(async (tx) => {
      if (spec.ha && !previous) {
        const host = vm.hostId ? await tx.hosts.get(vm.hostId) : undefined;
        await requireProtectable(tx, { ...vm, spec }, host);
      }
      if (spec.ha && LIVE.includes(vm.state)) await this.ha?.requireAdmission({ ...vm, spec }, tx);
      const saved = await tx.vms.update(vm.id, { spec });
      await this.events.record(
        { actor, objectType: 'vm', objectId: vm.id, objectName: vm.name, action: spec.ha ? (previous ? 'vm.ha-changed' : 'vm.ha-enabled') : 'vm.ha-disabled', hostId: vm.hostId, result: 'success', detail: { before: previous ? { ...previous } : null, after: spec.ha ? { ...spec.ha } : null } },
        tx,
      );
      return saved;
    });
    if (updated.spec.ha && !previous && LIVE.includes(updated.state) && updated.hostId) await this.ha?.generationForStart(updated, updated.hostId);
    return updated;
  }

  async stop(name: string, timeoutMs: number, actor: Actor): Promise<{ operation: OperationRecord; vm: VmRecord }> {
    const vm = await this.get(name);
    if (!LIVE.includes(vm.state)) throw new DroverError('VM_NOT_RUNNING', name);
    return this.run(vm, 'stop', actor, async (agent) => {
      const view = await agent.stop(vm.name, timeoutMs);
      await this.store.vms.update(vm.id, { desiredState: 'stopped' });
      await this.sync(vm.id, view);
      return { vm: vm.name };
    });
  }

  /**
   * Sets (Mbit/s) or removes (null) the rate limit of NIC `nicName` (eth1...) as a `set-nic` operation: the
   * host stores it with the VM and, if the VM runs, changes the tap's limit at once. NIC_NOT_FOUND,
   * NIC_NOT_RATE_LIMITABLE (the user-mode NIC) and INVALID_RATE_LIMIT are refused before the operation starts.
   */
  async setNicRateLimit(name: string, nicName: string, rateLimitMbit: number | null, actor: Actor): Promise<{ operation: OperationRecord; vm: VmRecord }> {
    const vm = await this.get(name);
    if (vm.state === 'creating' || vm.state === 'deleting') throw new DroverError('VM_BUSY', `${vm.name} is ${vm.state}`);
    const index = vm.nics.findIndex((n) => n.name === nicName);
    const nic = vm.nics[index];
    if (!nic) throw new DroverError('NIC_NOT_FOUND', `${name} has no NIC ${nicName}; it has ${vm.nics.map((n) => n.name).join(', ')}`);
    if ((nic.mode ?? (nic.network === 'user' ? 'user' : 'bridge')) === 'user') throw new DroverError('NIC_NOT_RATE_LIMITABLE', `${name} ${nicName} is user-mode`);
    const kbit = rateLimitMbit === null ? null : mbitToKbit(rateLimitMbit);
    return this.run(vm, 'set-nic', actor, async (agent) => {
      await this.sync(vm.id, await agent.setNicRateLimit(vm.name, index, kbit));
      return { vm: vm.name, nic: nicName, rateLimitMbit };
    });
  }

  /**
   * Changes a VM's limits as a `set-limits` operation: its host keeps them for the next start and applies them at
   * once where the driver can (a container's CPU, memory and processes; a VM's CPU cap). A VM whose memory can
   * only change at its next start is refused while it runs (GUEST_TYPE_UNSUPPORTED), nothing changed.
   */
  async setLimits(name: string, limits: UpdateVmLimitsBody, actor: Actor): Promise<{ operation: OperationRecord; vm: VmRecord }> {
    const vm = await this.get(name);
    if (vm.state === 'creating' || vm.state === 'deleting') throw new DroverError('VM_BUSY', `${vm.name} is ${vm.state}`);
    if (limits.pidsLimit !== undefined && vm.spec.type !== 'container') throw new DroverError('GUEST_TYPE_UNSUPPORTED', `${name} is a VM; --pids is for containers`);
    return this.run(vm, 'set-limits', actor, async (agent) => {
      const view = await agent.setLimits(vm.name, limits);
      const spec: VmSpec = { ...vm.spec };
      if (limits.memoryMiB !== undefined) spec.memoryBytes = limits.memoryMiB * MiB;
      if (limits.cpuLimitPercent === null) delete spec.cpuLimitPercent;
      else if (limits.cpuLimitPercent !== undefined) spec.cpuLimitPercent = limits.cpuLimitPercent;
      if (limits.pidsLimit === null) delete spec.pidsLimit;
      else if (limits.pidsLimit !== undefined) spec.pidsLimit = limits.pidsLimit;
      await this.store.vms.update(vm.id, { spec });
      await this.sync(vm.id, view);
      return { vm: vm.name, ...limits };
    });
  }

  /** Blocks until the guest agent answers (or the timeout). */
  async waitReady(name: string, timeoutMs: number): Promise<VmRecord> {
    const vm = await this.get(name);
    const agent = await this.agentFor(vm);
    const view = await agent.waitReady(vm.name, timeoutMs);
    await recordGuestReady({ store: this.store, events: this.events }, vm.id, view);
    return this.sync(vm.id, view);
  }

  async delete(name: string, force: boolean, actor: Actor): Promise<{ operation: OperationRecord; vm: VmRecord }> {
    const vm = await this.get(name);
    if (LIVE.includes(vm.state) && !force) throw new DroverError('VM_NOT_STOPPED', `${name}: stop it first, or pass --force`);
    return this.run(vm, 'delete', actor, async (agent) => {
      const previous = vm.state;
      await this.store.vms.update(vm.id, { state: 'deleting' });
      try {
        await agent.deleteVm(vm.name, force);
      } catch (err) {
        // The host still has the VM unless it says it never had it: put the record back as it was.
        if (!(err instanceof DroverError && err.code === 'VM_NOT_FOUND')) {
          await this.store.vms.update(vm.id, { state: previous });
          throw err;
        }
      }
      await this.store.transaction(async (tx) => {
        await tx.vms.delete(vm.id);
        await tx.placements.close(vm.id, new Date().toISOString());
      });
      await refreshNetworkPeers(this.store, this.hosts, vm);
      return { vm: vm.name };
    });
  }

  /** Live-migrates a running VM to host `body.to` as a `migrate` operation; see migrate.ts. */
  async migrate(name: string, body: MigrateVmBody, actor: Actor): Promise<{ operation: OperationRecord; vm: VmRecord }> {
    const vm = await this.get(name);
    const operation = await startMigration({ store: this.store, events: this.events, operations: this.operations, hosts: this.hosts }, vm, body, actor);
    return { operation, vm };
  }

  /** Where the VM has been, newest first. */
  async history(name: string): Promise<PlacementRecord[]> {
    return this.store.placements.listByVm((await this.get(name)).id);
  }

  /** The placement covering `at` (default now); PLACEMENT_NOT_FOUND when the VM was on no host then. */
  async where(name: string, at: string = now()): Promise<PlacementRecord> {
    const vm = await this.get(name);
    const found = await this.store.placements.at(vm.id, at);
    if (!found) throw new DroverError('PLACEMENT_NOT_FOUND', `${name} at ${at}`);
    return found;
  }

  async exec(name: string, body: { command: string; args?: string[]; input?: string; timeoutMs?: number }, actor: Actor) {
    const vm = await this.get(name);
    if (vm.state !== 'running') throw new DroverError('VM_NOT_RUNNING', `${name} is ${vm.state}`);
    const result = await (await this.agentFor(vm)).exec(vm.name, body);
    await this.events.record({ actor, objectType: 'vm', objectId: vm.id, objectName: vm.name, action: 'vm.exec', hostId: vm.hostId, result: 'success', detail: { command: body.command, exitCode: result.exitCode } });
    return result;
  }

  /** Clones a stopped VM on the same host into a new VM record. */
  async clone(name: string, target: string, mode: 'linked' | 'full', actor: Actor): Promise<{ operation: OperationRecord; vm: VmRecord }> {
    validateName('VM', target);
    const source = await this.get(name);
    if (await this.store.vms.getByName(target)) throw new DroverError('VM_EXISTS', target);
    if (LIVE.includes(source.state)) throw new DroverError('VM_NOT_STOPPED', `${name}: clone needs a stopped VM`);
    if (networkNicsOf(source).length > 0) throw new DroverError('INVALID_ARGUMENT', `${name} has NICs on virtual networks; a clone would share its addresses`);
    if (mode === 'linked' && source.snapshots.length > 0) throw new DroverError('LINKED_CLONE_HAS_SNAPSHOTS', name);
    const now = new Date().toISOString();
    const copy: VmRecord = { ...source, id: randomUUID(), name: target, state: 'creating', desiredState: 'stopped', snapshots: [], runtime: {}, movingTo: null, createdAt: now, updatedAt: now };
    return this.store.transaction(async (tx) => {
      await tx.vms.insert(copy);
      const operation = await this.operations.start({
        kind: 'clone',
        target: { type: 'vm', id: source.id, name: source.name },
        actor,
        ...(source.hostId ? { hostId: source.hostId } : {}),
        busyError: 'VM_BUSY',
        tx,
        work: async (ctx) => {
          ctx.onUndo('record the VM', async () => void (await this.store.vms.delete(copy.id)));
          const agent = await this.agentFor(source);
          await ctx.progress(0.1, `${mode} clone of ${name}`);
          const created = await agent.clone(name, target, mode);
          ctx.onUndo('clone the disks on its host', () => agent.deleteVm(target, true));
          await this.sync(copy.id, created);
          return { vm: target, mode };
        },
      });
      return { operation, vm: copy };
    });
  }

  async snapshots(name: string) {
    const vm = await this.get(name);
    return (await this.agentFor(vm)).snapshots(vm.name);
  }

  /** Snapshot create, revert or delete as an operation. */
  async snapshot(name: string, kind: 'snapshot' | 'revert' | 'delete-snapshot', snapshot: string, actor: Actor): Promise<OperationRecord> {
    const vm = await this.get(name);
    if (kind === 'snapshot') validateName('snapshot', snapshot);
    if (kind === 'revert' && LIVE.includes(vm.state)) throw new DroverError('VM_NOT_STOPPED', `${name}: revert needs a stopped VM`);
    const { operation } = await this.run(vm, kind, actor, async (agent) => {
      const list =
        kind === 'snapshot' ? await agent.snapshotCreate(vm.name, snapshot) : kind === 'revert' ? await agent.snapshotRevert(vm.name, snapshot) : await agent.snapshotDelete(vm.name, snapshot);
      await this.store.vms.update(vm.id, { snapshots: list.map((s) => ({ name: s.name, createdAt: s.createdAt })) });
      return { vm: vm.name, snapshot, snapshots: list.map((s) => s.name) };
    });
    return operation;
  }

  async consoleLog(name: string, tailBytes?: number): Promise<string> {
    const vm = await this.get(name);
    return (await this.agentFor(vm)).consoleLog(vm.name, tailBytes);
  }

  /**
   * Settles VMs left mid-create or mid-delete by a controller that died: a VM its host has is adopted
   * (create) or deleted (delete); one its host lacks loses its record. Runs once hosts are registered.
   */
  async resolveInterrupted(actor: Actor): Promise<string[]> {
    const settled: string[] = [];
    const active = new Set((await this.operations.list({ limit: 1000, states: ['queued', 'running'] })).map((o) => o.targetId));
    for (const vm of await this.store.vms.list()) {
      if ((vm.state !== 'creating' && vm.state !== 'deleting') || active.has(vm.id)) continue;
      const agent = await this.agentFor(vm);
      const onHost = (await agent.listVms()).find((v) => v.name === vm.name);
      let outcome: string;
      if (onHost && vm.state === 'creating') {
        await this.sync(vm.id, onHost);
        outcome = 'adopted from its host';
      } else {
        if (onHost) await agent.deleteVm(vm.name, true);
        await this.store.vms.delete(vm.id);
        outcome = onHost ? 'deleted on its host' : 'record removed: its host never had it';
      }
      await this.events.record({ actor, objectType: 'vm', objectId: vm.id, objectName: vm.name, action: 'vm.recovered', hostId: vm.hostId, result: 'success', detail: { was: vm.state, outcome } });
      settled.push(`${vm.name}: ${outcome}`);
    }
    return settled;
  }

  /** The agent of the VM's host, for the console proxy. */
  async agentFor(vm: VmRecord): Promise<AgentClient> {
    if (!vm.hostId) throw new DroverError('VM_NOT_FOUND', `${vm.name} is not placed on a host`);
    return this.hosts.client(vm.hostId);
  }

  private refuseWrongState(vm: VmRecord, action: Action): void {
    if (vm.state === 'creating' || vm.state === 'deleting') throw new DroverError('VM_BUSY', `${vm.name} is ${vm.state}`);
    if (action === 'start' && LIVE.includes(vm.state)) throw new DroverError('VM_ALREADY_RUNNING', vm.name);
    if (action === 'resume' && vm.state !== 'paused') throw new DroverError('VM_NOT_PAUSED', vm.name);
    if ((action === 'pause' || action === 'reboot') && vm.state !== 'running') throw new DroverError('VM_NOT_RUNNING', `${vm.name} is ${vm.state}`);
    if (action === 'kill' && !LIVE.includes(vm.state)) throw new DroverError('VM_NOT_RUNNING', vm.name);
  }

  private async run(vm: VmRecord, kind: string, actor: Actor, fn: (agent: AgentClient) => Promise<JsonValue>): Promise<{ operation: OperationRecord; vm: VmRecord }> {
    const operation = await this.operations.start({
      kind,
      target: { type: 'vm', id: vm.id, name: vm.name },
      actor,
      ...(vm.hostId ? { hostId: vm.hostId } : {}),
      busyError: 'VM_BUSY',
      work: async () => fn(await this.agentFor(vm)),
    });
    return { operation, vm };
  }

  /** Copies what the host reported about the VM into its record. */
  private async sync(id: string, view: VmView): Promise<VmRecord> {
    return this.store.vms.update(id, {
      state: view.state,
      disks: view.disks.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes, format: 'qcow2' as const, backingImageId: null })),
      nics: nicRecords(view.nics),
      runtime: {
        hostVmId: view.id,
        guestReady: view.guestReady,
        ...(view.pid ? { pid: view.pid } : {}),
        ...(view.startedAt ? { startedAt: view.startedAt } : {}),
        ...(view.crashReason ? { crashReason: view.crashReason } : {}),
        ...(view.addresses?.length ? { addresses: view.addresses } : {}),
      },
    });
  }
}

/** The HA policy `given` makes of `current` (or of the defaults). */
function haPolicy(current: VmHaPolicy | undefined, given: NonNullable<CreateVmBody['ha']>): VmHaPolicy {
  return {
    priority: (given.priority ?? current?.priority ?? 3) as VmHaPolicy['priority'],
    isolation: given.isolation ?? current?.isolation ?? 'keep-running',
    monitoring: given.monitoring ?? current?.monitoring ?? false,
  };
}

/** HA_DISK_NOT_SHARED, HA_POOL_UNKNOWN or HA_POOL_SINGLE_HOST unless another host could start `vm` from its disks. */
async function requireProtectable(tx: Parameters<typeof readClusterView>[0], vm: VmRecord, host: HostRecord | undefined): Promise<void> {
  if (vm.spec.pool !== 'shared') {
    throw new DroverError('HA_DISK_NOT_SHARED', `${vm.name} keeps its disks in its host's own storage (pool local), so no other host could start it; create it with --pool shared`);
  }
  const view = await readClusterView(tx);
  const problem = validateHaProtection(vmView(vm, host), view.pools);
  if (problem) throw new DroverError(problem.code, problem.reason);
}

/** Refuses what the guest type's driver cannot do, before anything is recorded (GUEST_TYPE_UNSUPPORTED says which). */
function requireFitsGuestType(body: CreateVmBody): void {
  const type = body.type ?? 'vm';
  const capabilities = guestCapabilities(type);
  const refuse = (what: string) => {
    throw new DroverError('GUEST_TYPE_UNSUPPORTED', `a ${type} ${what}`);
  };
  if (body.devices && !capabilities.deviceModels.includes(body.devices)) refuse(`has no ${body.devices} device model`);
  if (body.portForwards?.length && !capabilities.userNetworking) refuse('has no user-mode NIC for port forwards; give it a virtual network (--network)');
  if (!body.image && !capabilities.deviceModels.length) refuse('is made from an image: give --image');
  // The fields that describe a container's own namespaces and limits.
  if (type !== 'container' && (body.privileged || body.pidsLimit || body.swapMiB !== undefined)) refuse('takes no --privileged, --pids or --swap; they are for containers');
}
