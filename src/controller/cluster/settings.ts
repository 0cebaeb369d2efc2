/** The cluster policy: cluster-wide scheduling settings, read with their defaults and changed as one. */
import { HOST_DEPENDENT_CPU_MODELS, qemuCpuModels, summarizeCpuModels } from '../../drivers/qemu/cpu-models.js';
import { DEFAULT_CPU_MODEL } from '../../vms/spec.js';
import { DroverError } from '../../shared/errors.js';
import type { Actor } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import type { ClusterSettings } from '../store/records.js';
import type { Repositories, Store } from '../store/store.js';

/** What a cluster that never set its policy uses: spread, and the CPU model VMs have always been given. */
export const DEFAULT_SETTINGS: ClusterSettings = { weight: 'spread', cpuModel: DEFAULT_CPU_MODEL, haHostFailures: 0 };

/**
 * Throws CPU_MODEL_UNSUPPORTED unless `model` can be the cluster's baseline: a model QEMU knows (this machine's QEMU,
 * or any host's report) whose features do not follow the host processor. Hosts that cannot run it are left to the
 * scheduler's cpu-model filter, which keeps new VMs off them.
 */
export async function requireBaselineCpuModel(model: string, hosts: ReadonlyArray<{ cpuModels: string[] }>): Promise<void> {
  if (HOST_DEPENDENT_CPU_MODELS.includes(model)) {
    throw new DroverError('CPU_MODEL_UNSUPPORTED', `${model} gives each VM its host's own processor features, so VMs could not move between unlike hosts; choose a named model such as ${DEFAULT_CPU_MODEL} or Nehalem`);
  }
  // A controller without QEMU of its own still knows what its hosts report.
  const known = new Set([DEFAULT_CPU_MODEL, ...(await qemuCpuModels().catch(() => [])), ...hosts.flatMap((host) => host.cpuModels)]);
  known.delete('*');
  if (!known.has(model)) {
    throw new DroverError('CPU_MODEL_UNSUPPORTED', `QEMU knows no CPU model ${model}; known models: ${summarizeCpuModels([...known])}`);
  }
}

/** The cluster's settings, each one stored or its default. */
export async function readClusterSettings(repos: Pick<Repositories, 'settings'>): Promise<ClusterSettings> {
  const weight = await repos.settings.get('weight');
  const cpuModel = await repos.settings.get('cpuModel');
  const haHostFailures = await repos.settings.get('haHostFailures');
  return {
    haHostFailures: typeof haHostFailures === 'number' && Number.isInteger(haHostFailures) && haHostFailures >= 0 ? haHostFailures : DEFAULT_SETTINGS.haHostFailures,
    weight: weight === 'pack' || weight === 'spread' ? weight : DEFAULT_SETTINGS.weight,
    cpuModel: typeof cpuModel === 'string' && cpuModel ? cpuModel : DEFAULT_SETTINGS.cpuModel,
  };
}

/** Changes the given settings in one transaction with a `cluster.policy-changed` event; CPU_MODEL_UNSUPPORTED for a model that cannot be a baseline. */
export async function updateClusterSettings(deps: { store: Store; events: EventLog }, change: Partial<ClusterSettings>, actor: Actor): Promise<ClusterSettings> {
  if (change.cpuModel !== undefined) await requireBaselineCpuModel(change.cpuModel, await deps.store.hosts.list());
  return deps.store.transaction(async (tx) => {
    const before = await readClusterSettings(tx);
    if (change.weight !== undefined) await tx.settings.set('weight', change.weight);
    if (change.cpuModel !== undefined) await tx.settings.set('cpuModel', change.cpuModel);
    if (change.haHostFailures !== undefined) await tx.settings.set('haHostFailures', change.haHostFailures);
    const after = await readClusterSettings(tx);
    await deps.events.record({ actor, objectType: 'cluster', objectId: null, objectName: null, action: 'cluster.policy-changed', hostId: null, result: 'success', detail: { before: { ...before }, after: { ...after } } }, tx);
    return after;
  });
}
