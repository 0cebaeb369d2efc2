/**
 * Placement: where new VMs go. Every decision records why the chosen host won (its score parts
 * against the runner-up) and, for every other host, which filter refused it and why.
 */
import { DroverError } from '../shared/errors.js';
import { type HostChoice, HostChooser } from './choose.js';
import type { HostRefusal } from './filters.js';
import { formatAmount, formatBytes } from './format.js';
import type { ClusterView, VmView } from './model.js';
import { ClusterState, type HostLoad } from './state.js';
import { affinityUnits, largestFirst, unitDemand, unitNames } from './units.js';
import { describeWin, type HostScore } from './weights.js';

/** Where one VM goes, and why. */
export interface PlacementDecision {
  vmId: string;
  vmName: string;
  hostId: string;
  hostName: string;
  score: HostScore;
  /** Why this host won, in one sentence. */
  reason: string;
  /** The best host that passed every filter but lost, when there was one. */
  runnerUp: { hostId: string; hostName: string; total: number } | undefined;
  /** How many hosts passed every filter. */
  candidates: number;
  /** Every host a filter refused. */
  rejected: HostRefusal[];
  /** The other VMs of its affinity group placed with it, by name; empty when placed alone. */
  placedWith: string[];
}

/** The outcome of placing many VMs: decisions in the order they were made, and the VMs no host could take. */
export interface BatchPlacement {
  decisions: PlacementDecision[];
  failures: PlacementImpossibleError[];
}

/** How many refused hosts an error's detail names before it summarises the rest. */
const DETAIL_HOSTS = 10;

/** PLACEMENT_IMPOSSIBLE for one VM (or one affinity unit), carrying every host's refusal. */
export class PlacementImpossibleError extends DroverError {
  readonly vmIds: string[];
  readonly refusals: HostRefusal[];

  /** `unit` is the VM, or the affinity unit it had to be placed with; `refusals` holds one entry per host. */
  constructor(unit: readonly VmView[], refusals: HostRefusal[]) {
    super('PLACEMENT_IMPOSSIBLE', placementFailureDetail(unit, refusals));
    this.vmIds = unit.map((vm) => vm.id);
    this.refusals = refusals;
  }
}

/** The text of a PLACEMENT_IMPOSSIBLE detail: the demand, the first hosts' reasons, and a count per filter for the rest. */
export function placementFailureDetail(unit: readonly VmView[], refusals: readonly HostRefusal[]): string {
  const demand = unitDemand(unit);
  const what = `${unit.length === 1 ? 'VM' : 'affinity group of VMs'} ${unitNames(unit)} (${formatAmount(demand.cpus)} vCPU(s), ${formatBytes(demand.memoryBytes)})`;
  if (refusals.length === 0) return `${what}: the cluster has no hosts`;
  const shown = refusals.slice(0, DETAIL_HOSTS).map((r) => `${r.hostName}: ${r.reason}`);
  const rest = refusals.slice(DETAIL_HOSTS);
  if (rest.length === 0) return `${what}: ${shown.join('; ')}`;
  const counts = new Map<string, number>();
  for (const r of rest) counts.set(r.filter, (counts.get(r.filter) ?? 0) + 1);
  const summary = [...counts].map(([filter, count]) => `${filter} ${count}`).join(', ');
  return `${what}: ${shown.join('; ')}; and ${rest.length} more host(s) (${summary})`;
}

/** Chooses a host for `vm` under the cluster's weight; throws PlacementImpossibleError when every host is refused. A VM already in the view is re-placed as if it were not running anywhere. */
export function placeOne(cluster: ClusterView, vm: VmView): PlacementDecision {
  const { decisions, failures } = placeMany(cluster, [vm]);
  if (failures[0]) throw failures[0];
  return decisions[0] as PlacementDecision; // placeMany returns a decision or a failure for every VM.
}

/**
 * Places `vms` one after another, each seeing the ones before it; VMs sharing an affinity group go
 * to one host together. Largest first (best-fit decreasing under `pack`), so the input order only
 * decides between VMs of equal size. Throws INVALID_ARGUMENT when a VM id appears twice.
 */
export function placeMany(cluster: ClusterView, vms: readonly VmView[]): BatchPlacement {
  const ids = new Set<string>();
  for (const vm of vms) {
    if (ids.has(vm.id)) throw new DroverError('INVALID_ARGUMENT', `VM ${vm.id} appears twice in the placement request`);
    ids.add(vm.id);
  }
  const state = new ClusterState(cluster, ids);
  const chooser = new HostChooser(state);
  const result: BatchPlacement = { decisions: [], failures: [] };
  for (const unit of largestFirst(state, affinityUnits(vms))) {
    const choice = chooser.choose(unit);
    const { host, score } = choice;
    if (!host || !score) {
      result.failures.push(new PlacementImpossibleError(unit, choice.rejected));
      continue;
    }
    for (const vm of unit) {
      result.decisions.push(decision(vm, unit, host, score, choice));
      state.add(vm, host);
    }
  }
  return result;
}

/** The decision for one VM of `unit`, placed on `host` with `score` as `choice` found. */
function decision(vm: VmView, unit: readonly VmView[], host: HostLoad, score: HostScore, choice: HostChoice): PlacementDecision {
  const { runnerUp, candidates, rejected } = choice;
  const placedWith = unit.filter((other) => other !== vm).map((other) => other.name);
  const reason = describeWin(score, runnerUp);
  return { vmId: vm.id, vmName: vm.name, hostId: host.view.id, hostName: host.view.name, score, reason, runnerUp, candidates, rejected, placedWith };
}
