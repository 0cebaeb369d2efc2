/**
 * Choosing a host for one placement unit: run every filter on every host, record each refusal, and
 * rank the hosts that passed with the cluster's weight. Placing many VMs repeats this thousands of
 * times, so verdicts are cached in layers that follow what each kind of filter reads:
 * - static filters (availability, maintenance, device model, storage, tags) per host and per VM
 *   requirement (devices, pool, tags), once per state;
 * - capacity filters per host and per VM size, while the host's VMs (its `version`) stay the same;
 * - group filters are cheap and never cached, because they depend on where other VMs run.
 */
import { CAPACITY_FILTERS, firstRefusal, GROUP_FILTERS, type HostRefusal, STATIC_FILTERS } from './filters.js';
import type { VmView } from './model.js';
import type { ClusterState, HostLoad } from './state.js';
import { unitDemand } from './units.js';
import { type HostScore, scoreHost, scoreTotal } from './weights.js';

/** What choosing found: the winner and its score (when any host passed) and every refused host. */
export interface HostChoice {
  host: HostLoad | undefined;
  score: HostScore | undefined;
  runnerUp: { hostId: string; hostName: string; total: number } | undefined;
  /** How many hosts passed every filter. */
  candidates: number;
  rejected: HostRefusal[];
}

/** A cached verdict: a refusal, PASSES, or undefined for not judged yet. */
type Cached = HostRefusal | typeof PASSES | undefined;
const PASSES = null;
/** The capacity cache entry of a host nothing has been judged on yet; no size equals it. */
const EMPTY = -1;

/** Chooses hosts against one ClusterState; keep one per state to benefit from its verdict caches. */
export class HostChooser {
  private readonly staticVerdicts = new Map<string, Cached[]>();
  private readonly sizes = new Map<string, number>();
  private readonly capacitySize: Int32Array;
  private readonly capacityVersion: Float64Array;
  private readonly capacityVerdict: Cached[];
  /** Refusals of the decision being made, copied out at its end with one exact-size allocation. */
  private readonly scratch: HostRefusal[];

  constructor(private readonly state: ClusterState) {
    const count = state.hosts.length;
    this.capacitySize = new Int32Array(count).fill(EMPTY);
    this.capacityVersion = new Float64Array(count);
    this.capacityVerdict = new Array<Cached>(count).fill(undefined);
    this.scratch = new Array<HostRefusal>(count);
  }

  /** Judges every host for `unit` (one VM, or an affinity unit placed together) without changing the state. Precondition: no VM of the unit is placed. */
  choose(unit: readonly VmView[]): HostChoice {
    const [first] = unit;
    if (first === undefined) throw new Error('HostChooser.choose needs at least one VM');
    return unit.length === 1 ? this.chooseOne(first) : this.chooseTogether(unit);
  }

  /** The hot path of placing many VMs: locals only, no allocation per host except refusals not seen before. */
  private chooseOne(vm: VmView): HostChoice {
    const { weight } = this.state.policy;
    const hosts = this.state.hosts;
    const rejected = this.scratch;
    let rejectedCount = 0;
    let candidates = 0;
    let best: HostLoad | undefined;
    let bestTotal = -Infinity;
    let runnerUp: HostLoad | undefined;
    let runnerUpTotal = -Infinity;
    const statics = this.staticsFor(vm);
    const size = this.sizeOf(vm);
    const grouped = Boolean(vm.groups.antiAffinity?.length || vm.groups.affinity?.length);
    for (let index = 0; index < hosts.length; index++) {
      const host = hosts[index] as HostLoad;
      const refusal = this.verdict(host, vm, statics, size, grouped);
      if (refusal !== PASSES) {
        rejected[rejectedCount++] = refusal;
        continue;
      }
      candidates++;
      const total = scoreTotal(weight, host, vm.cpus, vm.memoryBytes);
      if (total > bestTotal) {
        runnerUp = best;
        runnerUpTotal = bestTotal;
        best = host;
        bestTotal = total;
      } else if (total > runnerUpTotal) {
        runnerUp = host;
        runnerUpTotal = total;
      }
    }
    const choice: HostChoice = { host: best, score: undefined, runnerUp: undefined, candidates, rejected: rejected.slice(0, rejectedCount) };
    return finish(choice, weight, runnerUp, runnerUpTotal, vm.cpus, vm.memoryBytes);
  }

  /** Each host is tried by adding the unit's VMs one by one, so later members see the earlier ones, then undone. */
  private chooseTogether(unit: readonly VmView[]): HostChoice {
    const { weight } = this.state.policy;
    const demand = unitDemand(unit);
    const choice: HostChoice = { host: undefined, score: undefined, runnerUp: undefined, candidates: 0, rejected: [] };
    const scored: Array<{ host: HostLoad; total: number }> = [];
    for (const host of this.state.hosts) {
      const total = scoreTotal(weight, host, demand.cpus, demand.memoryBytes);
      const added: VmView[] = [];
      let refusal: HostRefusal | undefined;
      for (const vm of unit) {
        const found = firstRefusal(host, vm, this.state);
        if (found) {
          refusal = { ...found, reason: `${vm.name}: ${found.reason}` };
          break;
        }
        this.state.add(vm, host);
        added.push(vm);
      }
      for (const vm of added) this.state.remove(vm);
      if (refusal) choice.rejected.push(refusal);
      else scored.push({ host, total });
    }
    scored.sort((a, b) => b.total - a.total || a.host.index - b.host.index);
    choice.candidates = scored.length;
    choice.host = scored[0]?.host;
    return finish(choice, weight, scored[1]?.host, scored[1]?.total ?? -Infinity, demand.cpus, demand.memoryBytes);
  }

  /** The first refusal of `host` for `vm` in FILTERS order, or PASSES, through the caches; `statics`, `size` and `grouped` describe `vm`. */
  private verdict(host: HostLoad, vm: VmView, statics: Cached[], size: number, grouped: boolean): HostRefusal | typeof PASSES {
    const index = host.index;
    let refusal = statics[index];
    if (refusal === undefined) refusal = statics[index] = firstRefusal(host, vm, this.state, STATIC_FILTERS) ?? PASSES;
    if (refusal !== PASSES) return refusal;
    refusal = this.capacitySize[index] === size && this.capacityVersion[index] === host.version ? this.capacityVerdict[index] : undefined;
    if (refusal === undefined) {
      refusal = firstRefusal(host, vm, this.state, CAPACITY_FILTERS) ?? PASSES;
      this.capacitySize[index] = size;
      this.capacityVersion[index] = host.version;
      this.capacityVerdict[index] = refusal;
    }
    if (refusal !== PASSES) return refusal;
    if (!grouped) return PASSES;
    return firstRefusal(host, vm, this.state, GROUP_FILTERS) ?? PASSES;
  }

  /** The static verdicts shared by every VM with the same devices, CPU model, pool and required tags. */
  private staticsFor(vm: VmView): Cached[] {
    const key = `${vm.devices}|${vm.cpuModel ?? ''}|${vm.pool}|${[...vm.requiredTags].sort().join(',')}`;
    let verdicts = this.staticVerdicts.get(key);
    if (!verdicts) this.staticVerdicts.set(key, (verdicts = new Array<Cached>(this.state.hosts.length).fill(undefined)));
    return verdicts;
  }

  /** A small integer per distinct (vCPUs, memory) size. */
  private sizeOf(vm: VmView): number {
    const key = `${vm.cpus}|${vm.memoryBytes}`;
    let size = this.sizes.get(key);
    if (size === undefined) this.sizes.set(key, (size = this.sizes.size));
    return size;
  }
}

function finish(choice: HostChoice, weight: HostScore['weight'], runnerUp: HostLoad | undefined, runnerUpTotal: number, cpus: number, memoryBytes: number): HostChoice {
  if (!choice.host) return choice;
  choice.score = scoreHost(weight, choice.host, cpus, memoryBytes);
  if (runnerUp) choice.runnerUp = { hostId: runnerUp.view.id, hostName: runnerUp.view.name, total: runnerUpTotal };
  return choice;
}
