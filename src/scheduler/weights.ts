/**
 * Weights rank the hosts that passed every filter. Both look at the host as it would be after the
 * placement, per resource, as a fraction of its effective capacity (physical × overcommit):
 * - spread scores the fraction left free, so VMs go where the most room remains;
 * - pack scores the fraction allocated, so VMs fill the fullest host that still fits (best fit).
 * The total is the mean of the CPU and memory parts; the highest total wins, ties go to the first host.
 */
import { formatPercent } from './format.js';
import type { Weight } from './model.js';
import type { HostLoad } from './state.js';

/** Per-resource part of a score: the fraction free (spread) or allocated (pack) after placement. */
export interface ScoreParts {
  cpu: number;
  memory: number;
}

/** A host's score for one placement, with the parts it is made of. */
export interface HostScore {
  weight: Weight;
  total: number;
  parts: ScoreParts;
}

/** The total score of placing `cpus` and `memoryBytes` on `host`; allocation-free, for hot loops. */
export function scoreTotal(weight: Weight, host: HostLoad, cpus: number, memoryBytes: number): number {
  const used = (fraction(host.cpuAllocated + cpus, host.cpuCapacity) + fraction(host.memoryAllocated + memoryBytes, host.memoryCapacity)) / 2;
  return weight === 'pack' ? used : 1 - used;
}

/** The score of placing `cpus` and `memoryBytes` on `host`, with its parts. */
export function scoreHost(weight: Weight, host: HostLoad, cpus: number, memoryBytes: number): HostScore {
  const cpuUsed = fraction(host.cpuAllocated + cpus, host.cpuCapacity);
  const memoryUsed = fraction(host.memoryAllocated + memoryBytes, host.memoryCapacity);
  const parts = weight === 'pack' ? { cpu: cpuUsed, memory: memoryUsed } : { cpu: 1 - cpuUsed, memory: 1 - memoryUsed };
  return { weight, total: (parts.cpu + parts.memory) / 2, parts };
}

/** Why the chosen host won, in one sentence, against the runner-up when there was one. */
export function describeWin(score: HostScore, runnerUp?: { hostName: string; total: number }): string {
  const { cpu, memory } = score.parts;
  const state = score.weight === 'pack' ? 'allocated' : 'free';
  const rule = score.weight === 'pack' ? 'pack: the fullest host that fits' : 'spread: the host with the most room left';
  const against = runnerUp ? `; next best ${runnerUp.hostName} at ${runnerUp.total.toFixed(3)}` : '; the only host that passed every filter';
  return `${rule}, ${formatPercent(cpu)} of CPU and ${formatPercent(memory)} of memory ${state} after placement (score ${score.total.toFixed(3)}${against})`;
}

/** used / capacity; a host with no capacity counts as full. */
function fraction(used: number, capacity: number): number {
  return capacity > 0 ? used / capacity : 1;
}
