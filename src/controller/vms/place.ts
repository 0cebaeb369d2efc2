/**
 * Where a new VM goes: the scheduler's `placeOne` under the cluster's weight, or a host the caller
 * named once every placement filter passes it. Either way the reasons go into the placement history.
 */
import { DroverError } from '../../shared/errors.js';
import { placeOne } from '../../scheduler/place.js';
import { migrationTargets } from '../../scheduler/targets.js';
import type { HostRecord, JsonValue, VmRecord } from '../store/records.js';
import type { Repositories } from '../store/store.js';
import { clusterViewOf, vmView } from '../cluster/view.js';
import { readClusterSettings } from '../cluster/settings.js';
import { guestCapabilities } from '../../drivers/capabilities.js';

/** The chosen host and the reasons to record with the placement. */
export interface NewVmPlacement {
  host: HostRecord;
  detail: JsonValue;
}

/**
 * Places `vm` (not yet stored; its spec gets the cluster's baseline CPU model) on `hostName` or, without one, where the scheduler picks. Throws
 * NOT_FOUND for an unknown host, HOST_UNSUITABLE with every filter's reason for a named host the
 * filters refuse, and PLACEMENT_IMPOSSIBLE with each host's refusal when no host passes. `others` are the VMs
 * already recorded, as `repos` sees them; read from `repos` when not given.
 */
export async function placeNewVm(repos: Repositories, vm: VmRecord, hostName: string | undefined, others?: readonly VmRecord[]): Promise<NewVmPlacement> {
  const hosts = await repos.hosts.list();
  const settings = await readClusterSettings(repos);
  // The draft gets the cluster's baseline CPU model now, so later moves are judged by the model it runs.
  // A guest that sees the host's own CPU (a container) has no model to keep.
  if (guestCapabilities(vm.spec.type).cpuModels) vm.spec.cpuModel ??= settings.cpuModel;
  const view = clusterViewOf(hosts, [...(others ?? (await repos.vms.list())), vm], settings);
  const byId = new Map(hosts.map((host) => [host.id, host]));
  if (hostName !== undefined) {
    const named = hosts.find((host) => host.name === hostName);
    if (!named) throw new DroverError('NOT_FOUND', `host ${hostName}`);
    const verdict = migrationTargets(view, vm.id, 'shared').targets.find((target) => target.hostId === named.id);
    const reasons = verdict?.refusals.map((refusal) => refusal.reason) ?? [];
    if (reasons.length > 0) throw new DroverError('HOST_UNSUITABLE', `${vm.name} cannot be placed on ${hostName}: ${reasons.join('; ')}`);
    return { host: named, detail: { why: `${hostName} named by the caller; it passes every placement filter` } };
  }
  const decision = placeOne(view, vmView(vm, undefined));
  const host = byId.get(decision.hostId) as HostRecord; // The view was built from these hosts.
  return {
    host,
    detail: {
      why: decision.reason,
      weight: decision.score.weight,
      score: Number(decision.score.total.toFixed(4)),
      candidates: decision.candidates,
      refused: decision.rejected.map((refusal) => ({ host: refusal.hostName, reasons: [refusal.reason] })),
    },
  };
}
