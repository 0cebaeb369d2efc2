/** The cluster policy: cluster-wide scheduling settings, read with their defaults and changed as one. */
import { CPU_MODEL } from '../../drivers/qemu/cmdline.js';
import { DroverError } from '../../shared/errors.js';
import type { Actor } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import type { ClusterSettings } from '../store/records.js';
import type { Repositories, Store } from '../store/store.js';

/** What a cluster that never set its policy uses: spread, and the CPU model VMs have always been given. */
export const DEFAULT_SETTINGS: ClusterSettings = { weight: 'spread', cpuModel: CPU_MODEL };

/** The baselines a cluster can choose: only the ones the agents' QEMU driver applies (it gives every VM CPU_MODEL). */
export const BASELINE_CPU_MODELS = [CPU_MODEL] as const;

/** The cluster's settings, each one stored or its default. */
export async function readClusterSettings(repos: Pick<Repositories, 'settings'>): Promise<ClusterSettings> {
  const weight = await repos.settings.get('weight');
  const cpuModel = await repos.settings.get('cpuModel');
  return {
    weight: weight === 'pack' || weight === 'spread' ? weight : DEFAULT_SETTINGS.weight,
    cpuModel: typeof cpuModel === 'string' && cpuModel ? cpuModel : DEFAULT_SETTINGS.cpuModel,
  };
}

/** Changes the given settings in one transaction with a `cluster.policy-changed` event; INVALID_ARGUMENT for a CPU model not offered. */
export async function updateClusterSettings(deps: { store: Store; events: EventLog }, change: Partial<ClusterSettings>, actor: Actor): Promise<ClusterSettings> {
  if (change.cpuModel !== undefined && !(BASELINE_CPU_MODELS as readonly string[]).includes(change.cpuModel)) {
    throw new DroverError('INVALID_ARGUMENT', `CPU model ${change.cpuModel} is not offered; choose one of ${BASELINE_CPU_MODELS.join(', ')}`);
  }
  return deps.store.transaction(async (tx) => {
    const before = await readClusterSettings(tx);
    if (change.weight !== undefined) await tx.settings.set('weight', change.weight);
    if (change.cpuModel !== undefined) await tx.settings.set('cpuModel', change.cpuModel);
    const after = await readClusterSettings(tx);
    await deps.events.record({ actor, objectType: 'cluster', objectId: null, objectName: null, action: 'cluster.policy-changed', hostId: null, result: 'success', detail: { before: { ...before }, after: { ...after } } }, tx);
    return after;
  });
}
