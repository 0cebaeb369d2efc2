/**
 * Admission control: with `haHostFailures` = N, the HA VMs of any N hosts that fail together must
 * fit on the hosts that remain, by the scheduler's own rules. The answer carries the figures
 * (needed against spare CPU and memory) so a refused VM start can say why.
 */
import { formatAmount, formatBytes } from '../scheduler/format.js';
import type { ClusterView, HostView } from '../scheduler/model.js';
import { placeMany, placementFailureDetail } from '../scheduler/place.js';
import { ClusterState } from '../scheduler/state.js';
import { restartView } from './placement.js';

/** What one combination of failed hosts needs and what the others have. */
export interface AdmissionFigures {
  failedHostIds: string[];
  /** vCPUs and memory of the HA VMs on the failed hosts. */
  neededCpus: number;
  neededMemoryBytes: number;
  /** Unallocated vCPUs and memory (counting overcommit) on the hosts that remain and take VMs. */
  spareCpus: number;
  spareMemoryBytes: number;
  /** HA VMs the scheduler could not place, with its reason. */
  unplaced: Array<{ vmId: string; vmName: string; reason: string }>;
}

/** The answer of an admission check. */
export interface AdmissionResult {
  admitted: boolean;
  haHostFailures: number;
  /** Why, in a sentence with the figures. */
  reason: string;
  /** The combination that refused, or when admitted the tightest one (least memory to spare); undefined when nothing was checked. */
  figures: AdmissionFigures | undefined;
  combinationsChecked: number;
  /** False when there were too many combinations to try and only the hosts with the most HA load were failed together. */
  exhaustive: boolean;
}

/** How many combinations are tried before falling back to the heaviest hosts. */
const DEFAULT_MAX_COMBINATIONS = 2_000;

/**
 * Checks that the HA VMs (`haVmIds`) of any `haHostFailures` hosts could be restarted on the
 * others. To admit a new HA VM, pass a cluster that already includes it where it would run.
 */
export function checkAdmission(cluster: ClusterView, haVmIds: readonly string[], haHostFailures: number, options: { maxCombinations?: number } = {}): AdmissionResult {
  const base = { haHostFailures, combinationsChecked: 0, exhaustive: true };
  if (haHostFailures <= 0) return { ...base, admitted: true, reason: 'no host failures to tolerate', figures: undefined };
  // Offline hosts have failed already; every other host can fail, maintenance included.
  const candidates = cluster.hosts.filter((host) => host.state !== 'offline');
  if (haHostFailures >= candidates.length) {
    return { ...base, admitted: false, reason: `tolerating ${haHostFailures} host failure(s) needs more than ${haHostFailures} host(s); the cluster has ${candidates.length} that are not offline`, figures: undefined };
  }
  const ha = new Set(haVmIds);
  const limit = options.maxCombinations ?? DEFAULT_MAX_COMBINATIONS;
  const exhaustive = binomial(candidates.length, haHostFailures) <= limit;
  const sets = exhaustive ? combinations(candidates, haHostFailures) : heaviest(cluster, candidates, ha, haHostFailures);
  let tightest: AdmissionFigures | undefined;
  let checked = 0;
  for (const failed of sets) {
    checked += 1;
    const figures = figuresFor(cluster, failed, ha);
    if (figures.unplaced.length > 0) {
      return { haHostFailures, combinationsChecked: checked, exhaustive, admitted: false, reason: refusalReason(figures), figures };
    }
    if (!tightest || figures.spareMemoryBytes - figures.neededMemoryBytes < tightest.spareMemoryBytes - tightest.neededMemoryBytes) tightest = figures;
  }
  const reason = tightest
    ? `the HA VMs of any ${haHostFailures} failed host(s) fit on the others; tightest: ${describe(tightest)}${exhaustive ? '' : ' (only the hosts with the most HA load were checked: too many combinations)'}`
    : 'no combination to check';
  return { haHostFailures, combinationsChecked: checked, exhaustive, admitted: true, reason, figures: tightest };
}

/** Needed and spare figures, and the unplaceable HA VMs, when `failed` hosts fail together. */
function figuresFor(cluster: ClusterView, failed: readonly HostView[], ha: ReadonlySet<string>): AdmissionFigures {
  const failedIds = new Set(failed.map((host) => host.id));
  const lost = cluster.vms.filter((vm) => ha.has(vm.id) && vm.hostId !== null && failedIds.has(vm.hostId));
  const unavailable = new Map([...failedIds].map((id) => [id, 'ha: failed in this case']));
  const byId = new Map(lost.map((vm) => [vm.id, vm]));
  const view = restartView(cluster, unavailable, new Map(lost.map((vm) => [vm.id, null])));
  const state = new ClusterState(view);
  let spareCpus = 0;
  let spareMemoryBytes = 0;
  for (const host of state.hosts) {
    if (host.view.state !== 'ready' || !host.view.healthy) continue;
    spareCpus += Math.max(0, host.cpuCapacity - host.cpuAllocated);
    spareMemoryBytes += Math.max(0, host.memoryCapacity - host.memoryAllocated);
  }
  const { failures } = placeMany(view, lost.map((vm) => ({ ...vm, hostId: null })));
  const unplaced = failures.flatMap((failure) => {
    // Name the failed hosts for what they are in this case, not "offline".
    const refusals = failure.refusals.map((r) => (unavailable.has(r.hostId) ? { ...r, reason: 'ha: failed in this case' } : r));
    const unit = failure.vmIds.flatMap((vmId) => byId.get(vmId) ?? []);
    const reason = placementFailureDetail(unit, refusals);
    return unit.map((vm) => ({ vmId: vm.id, vmName: vm.name, reason }));
  });
  return {
    failedHostIds: [...failedIds],
    neededCpus: lost.reduce((sum, vm) => sum + vm.cpus, 0),
    neededMemoryBytes: lost.reduce((sum, vm) => sum + vm.memoryBytes, 0),
    spareCpus,
    spareMemoryBytes,
    unplaced,
  };
}

function describe(f: AdmissionFigures): string {
  return `if ${f.failedHostIds.join(' and ')} ${f.failedHostIds.length === 1 ? 'fails' : 'fail'}, their HA VMs need ${formatAmount(f.neededCpus)} vCPU(s) and ${formatBytes(f.neededMemoryBytes)}; the remaining hosts have ${formatAmount(f.spareCpus)} vCPU(s) and ${formatBytes(f.spareMemoryBytes)} spare`;
}

function refusalReason(f: AdmissionFigures): string {
  const first = f.unplaced[0];
  const names = f.unplaced.map((u) => u.vmName).join(', ');
  return `not enough failover capacity: ${describe(f)}, and ${f.unplaced.length} HA VM(s) could not be placed (${names})${first ? `; ${first.reason}` : ''}`;
}

/** Every way to choose `k` of `items`, in order. */
function* combinations<T>(items: readonly T[], k: number, start = 0, chosen: T[] = []): Generator<T[]> {
  if (chosen.length === k) {
    yield [...chosen];
    return;
  }
  for (let i = start; i <= items.length - (k - chosen.length); i++) {
    chosen.push(items[i] as T); // i < items.length by the loop bound.
    yield* combinations(items, k, i + 1, chosen);
    chosen.pop();
  }
}

/** The fallback when there are too many combinations: the k hosts with the most HA memory, then the k with the most HA vCPUs. */
function heaviest(cluster: ClusterView, hosts: readonly HostView[], ha: ReadonlySet<string>, k: number): HostView[][] {
  const load = (host: HostView, key: 'memoryBytes' | 'cpus') => cluster.vms.filter((vm) => ha.has(vm.id) && vm.hostId === host.id).reduce((sum, vm) => sum + vm[key], 0);
  const byMemory = [...hosts].sort((a, b) => load(b, 'memoryBytes') - load(a, 'memoryBytes')).slice(0, k);
  const byCpu = [...hosts].sort((a, b) => load(b, 'cpus') - load(a, 'cpus')).slice(0, k);
  return [byMemory, byCpu];
}

function binomial(n: number, k: number): number {
  let result = 1;
  for (let i = 1; i <= k; i++) result = (result * (n - k + i)) / i;
  return result;
}
