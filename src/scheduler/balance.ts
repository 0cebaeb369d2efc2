/**
 * Load balancing: plans live migrations that bring every host within a threshold of even load (the
 * metric is described in load.ts). The plan is greedy: each step takes the most uneven host and
 * makes the one allowed move, to or from it, that lowers the sum of squared distances from even
 * load the most. Guarantees, all checked by the tests:
 * - every move passes every placement filter against the cluster as the earlier moves left it, so
 *   anti-affinity holds throughout and nothing goes to a host in maintenance;
 * - no VM moves twice in a plan, none moves within the cool-down of a recent move, and none goes
 *   back to a host a recent move took it from;
 * - each move brings the most uneven host strictly closer to even and leaves no host as uneven as
 *   it was, so the imbalance never rises; a plan that would not lower it in the end is returned empty;
 * - the plan stops as soon as the cluster is balanced, so applying it and planning again gives
 *   nothing to do.
 * It does not guarantee the fewest moves in general (that is a bin-packing problem); it reaches the
 * minimum on equal-size VMs and on the constructed cases in the tests, and movesLowerBound() gives a
 * floor to compare any plan against.
 */
import { DroverError } from '../shared/errors.js';
import { firstRefusal } from './filters.js';
import { formatAmount, formatBytes, formatPercent } from './format.js';
import { deviation, EPSILON, evenLoad, imbalanceOf, isBalanceable, type Ratios, ratiosOf, spreadCost } from './load.js';
import type { ClusterView, VmView } from './model.js';
import { ClusterState, type HostLoad } from './state.js';

/** A migration that already happened; `at` is milliseconds since the epoch. */
export interface RecentMove {
  vmId: string;
  fromHostId: string;
  toHostId: string;
  at: number;
}

/** What to plan for. `threshold` is in ratio points (0.1 = every host within 10 points of even). */
export interface BalanceOptions {
  threshold: number;
  maxMoves?: number;
  recentMoves?: RecentMove[];
  /** The time cool-downs are measured against; defaults to Date.now(). */
  now?: number;
  /** How long after a move a VM stays put; defaults to DEFAULT_COOL_DOWN_MS. */
  coolDownMs?: number;
}

/** One planned live migration, why it is worth making, and what it costs. */
export interface PlannedMove {
  vmId: string;
  vmName: string;
  fromHostId: string;
  fromHostName: string;
  toHostId: string;
  toHostName: string;
  /** Memory the migration copies at least once, in bytes (0 for a move by restart). */
  costBytes: number;
  /** The guest moves by a restart (a container's cold migration): it is down from its stop to its start. */
  restart: boolean;
  reason: string;
  /** The cluster's imbalance once this and every earlier move are done. */
  imbalanceAfter: number;
}

/** A balancing plan: moves in the order to make them. */
export interface BalancePlan {
  moves: PlannedMove[];
  threshold: number;
  imbalanceBefore: number;
  imbalanceAfter: number;
  balanced: boolean;
  totalCostBytes: number;
  /** Why planning stopped where it did. */
  stopReason: string;
}

/** How long a migrated VM is left where it is before the balancer may move it again. */
export const DEFAULT_COOL_DOWN_MS = 30 * 60_000;

/** Validates the options and answers, per VM, why the balancer must leave it where it is (undefined: it may move). */
export function moveRules(options: BalanceOptions): { held: (vm: VmView, state: ClusterState) => string | undefined; cameFrom: (vm: VmView, host: HostLoad) => boolean } {
  const { threshold, maxMoves, coolDownMs = DEFAULT_COOL_DOWN_MS, now = Date.now(), recentMoves = [] } = options;
  if (!Number.isFinite(threshold) || threshold < 0) throw new DroverError('INVALID_ARGUMENT', `threshold must be a number >= 0, got ${threshold}`);
  if (maxMoves !== undefined && !(Number.isInteger(maxMoves) && maxMoves >= 0)) throw new DroverError('INVALID_ARGUMENT', `maxMoves must be an integer >= 0, got ${maxMoves}`);
  if (!Number.isFinite(coolDownMs) || coolDownMs < 0) throw new DroverError('INVALID_ARGUMENT', `coolDownMs must be a number >= 0, got ${coolDownMs}`);
  const latest = new Map<string, RecentMove>();
  const origins = new Map<string, Set<string>>();
  for (const move of recentMoves) {
    if ((latest.get(move.vmId)?.at ?? -Infinity) < move.at) latest.set(move.vmId, move);
    let from = origins.get(move.vmId);
    if (!from) origins.set(move.vmId, (from = new Set()));
    from.add(move.fromHostId);
  }
  return {
    held(vm, state) {
      if (vm.movingTo !== undefined) return 'a live migration of it is in flight';
      if (!vm.liveMigratable) return 'not live-migratable';
      if (state.pool(vm.pool)?.kind === 'local') return `its disks are on local pool ${vm.pool}`;
      const together = (vm.groups.affinity ?? []).find((group) => state.groupHosts('affinity', group, vm).length > 0);
      if (together !== undefined) return `affinity group ${together} has other members; they move together only when evacuating`;
      const recent = latest.get(vm.id);
      if (recent && now - recent.at < coolDownMs) return `moved ${Math.round((now - recent.at) / 1000)} s ago, inside the ${Math.round(coolDownMs / 1000)} s cool-down`;
      return undefined;
    },
    cameFrom: (vm, host) => origins.get(vm.id)?.has(host.view.id) ?? false,
  };
}

interface Candidate {
  vm: VmView;
  from: HostLoad;
  to: HostLoad;
  delta: number;
}

/** Plans migrations that bring `cluster` within `options.threshold` of even load; see the file comment for what it guarantees. Throws INVALID_ARGUMENT for bad options. */
export function plan(cluster: ClusterView, options: BalanceOptions): BalancePlan {
  const rules = moveRules(options);
  const { threshold, maxMoves = Infinity } = options;
  const state = new ClusterState(cluster);
  const hosts = state.hosts.filter(isBalanceable);
  const even = evenLoad(hosts);
  const before = imbalanceOf(hosts, even);
  const moved = new Set<string>();
  const heldCache = new Map<string, string | undefined>();
  const movable = (vm: VmView): boolean => {
    if (moved.has(vm.id)) return false;
    if (!heldCache.has(vm.id)) heldCache.set(vm.id, rules.held(vm, state));
    return heldCache.get(vm.id) === undefined;
  };
  const moves: PlannedMove[] = [];
  let current = before;
  let stopReason: string;
  while (true) {
    if (current <= threshold + EPSILON) {
      stopReason = `balanced: every host is within ${threshold} of even load (imbalance ${current.toFixed(3)})`;
      break;
    }
    if (moves.length >= maxMoves) {
      stopReason = `reached maxMoves (${maxMoves}) with imbalance ${current.toFixed(3)}`;
      break;
    }
    const worst = mostUneven(hosts, even);
    const found = bestMove(worst, hosts, even, state, (vm, to) => movable(vm) && !rules.cameFrom(vm, to));
    if (!found) {
      stopReason = `no allowed move brings ${worst.view.name} closer to even load (deviation ${current.toFixed(3)}): every candidate is held, refused by the filters, or would leave a host at least as uneven (a VM too large to move without overshooting)`;
      break;
    }
    const reasonBefore = describeWorst(worst, even);
    state.move(found.vm, found.to);
    moved.add(found.vm.id);
    const after = imbalanceOf(hosts, even);
    moves.push({
      vmId: found.vm.id,
      vmName: found.vm.name,
      fromHostId: found.from.view.id,
      fromHostName: found.from.view.name,
      toHostId: found.to.view.id,
      toHostName: found.to.view.name,
      costBytes: found.vm.movesByRestart ? 0 : found.vm.memoryBytes,
      restart: found.vm.movesByRestart ?? false,
      reason: `${reasonBefore}; moving ${found.vm.name} (${formatAmount(found.vm.cpus)} vCPU(s), ${formatBytes(found.vm.memoryBytes)}) from ${found.from.view.name} to ${found.to.view.name} takes the imbalance from ${current.toFixed(3)} to ${after.toFixed(3)}`,
      imbalanceAfter: after,
    });
    current = after;
  }
  if (moves.length > 0 && current >= before - EPSILON) {
    return finishPlan([], threshold, before, before, `no plan lowers the imbalance (${before.toFixed(3)}); the greedy plan stopped with: ${stopReason}`);
  }
  return finishPlan(moves, threshold, before, current, stopReason);
}

function finishPlan(moves: PlannedMove[], threshold: number, before: number, after: number, stopReason: string): BalancePlan {
  const totalCostBytes = moves.reduce((sum, move) => sum + move.costBytes, 0);
  return { moves, threshold, imbalanceBefore: before, imbalanceAfter: after, balanced: after <= threshold + EPSILON, totalCostBytes, stopReason };
}

/** The host furthest from even load; ties go to the first host. */
function mostUneven(hosts: readonly HostLoad[], even: Ratios): HostLoad {
  let worst = hosts[0] as HostLoad; // Only called while imbalance > threshold >= 0, so some host exists.
  let worstDeviation = -Infinity;
  for (const host of hosts) {
    const { cpu, memory } = ratiosOf(host);
    const d = deviation(cpu, memory, even);
    if (d > worstDeviation + EPSILON) {
      worst = host;
      worstDeviation = d;
    }
  }
  return worst;
}

/**
 * The best allowed move to or from `worst`: off it when it is above even load on its furthest
 * resource, onto it when below. Best means the largest drop in the sum of squared distances (then
 * the least memory to copy); it must leave both hosts closer to even than `worst` is now, and pass
 * every filter. Candidates are ranked on arithmetic alone and filtered in rank order, so the filters
 * run on the front-runner only, unless it is refused.
 */
function bestMove(worst: HostLoad, hosts: readonly HostLoad[], even: Ratios, state: ClusterState, allowed: (vm: VmView, to: HostLoad) => boolean): Candidate | undefined {
  const { cpu, memory } = ratiosOf(worst);
  const limit = deviation(cpu, memory, even) - EPSILON;
  const above = Math.abs(cpu - even.cpu) >= Math.abs(memory - even.memory) ? cpu > even.cpu : memory > even.memory;
  const visit = (consider: (candidate: Candidate) => void): void => {
    const tryMove = (vm: VmView, from: HostLoad, to: HostLoad): void => {
      // Cheap capacity pre-check to skip hopeless pairs; the filters still decide.
      if (to.cpuAllocated + vm.cpus > to.cpuCapacity + EPSILON || to.memoryAllocated + vm.memoryBytes > to.memoryCapacity) return;
      const { cpu: fromCpu, memory: fromMemory } = ratiosOf(from);
      const { cpu: toCpu, memory: toMemory } = ratiosOf(to);
      const fromCpuAfter = fromCpu - vm.cpus / from.cpuCapacity;
      const fromMemoryAfter = fromMemory - vm.memoryBytes / from.memoryCapacity;
      const toCpuAfter = toCpu + vm.cpus / to.cpuCapacity;
      const toMemoryAfter = toMemory + vm.memoryBytes / to.memoryCapacity;
      if (deviation(fromCpuAfter, fromMemoryAfter, even) >= limit || deviation(toCpuAfter, toMemoryAfter, even) >= limit) return;
      const delta = spreadCost(fromCpuAfter, fromMemoryAfter, even) + spreadCost(toCpuAfter, toMemoryAfter, even) - spreadCost(fromCpu, fromMemory, even) - spreadCost(toCpu, toMemory, even);
      if (delta < -EPSILON && allowed(vm, to)) consider({ vm, from, to, delta });
    };
    if (above) {
      for (const vm of worst.vms) for (const to of hosts) if (to !== worst) tryMove(vm, worst, to);
    } else {
      for (const from of hosts) if (from !== worst) for (const vm of from.vms) tryMove(vm, from, worst);
    }
  };
  const better = (a: Candidate, b: Candidate): boolean => a.delta < b.delta - EPSILON || (Math.abs(a.delta - b.delta) <= EPSILON && a.vm.memoryBytes < b.vm.memoryBytes);
  let best: Candidate | undefined;
  visit((candidate) => {
    if (!best || better(candidate, best)) best = candidate;
  });
  if (!best || !firstRefusal(best.to, best.vm, state)) return best;
  const ranked: Candidate[] = [];
  visit((candidate) => ranked.push(candidate));
  ranked.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
  return ranked.find((candidate) => !firstRefusal(candidate.to, candidate.vm, state));
}

function describeWorst(worst: HostLoad, even: Ratios): string {
  const { cpu, memory } = ratiosOf(worst);
  const useCpu = Math.abs(cpu - even.cpu) >= Math.abs(memory - even.memory);
  const [resource, ratio, target] = useCpu ? ['CPU', cpu, even.cpu] : ['memory', memory, even.memory];
  return `${worst.view.name} is the most uneven host (${resource} ${formatPercent(ratio)} allocated against an even ${formatPercent(target)})`;
}
