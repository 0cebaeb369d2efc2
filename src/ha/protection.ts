/**
 * Which VMs HA can protect. A restart on another host needs the VM's disks there, so every disk
 * must be on a shared pool that at least one other host reaches.
 */
import type { PoolView, VmView } from '../scheduler/model.js';
import type { HaVmSettings } from './model.js';

/** Why a VM cannot be HA-protected, with a code for the error table. */
export interface HaProtectionProblem {
  code: 'HA_DISK_NOT_SHARED' | 'HA_POOL_UNKNOWN' | 'HA_POOL_SINGLE_HOST' | 'HA_SETTINGS_INVALID';
  reason: string;
}

/**
 * undefined when `vm` can be HA-protected, else the first problem. `diskPools` lists the pool of
 * every disk (the scheduler's view carries one pool per VM, the default).
 */
export function validateHaProtection(vm: VmView, pools: readonly PoolView[], diskPools: readonly string[] = [vm.pool]): HaProtectionProblem | undefined {
  for (const name of diskPools) {
    const pool = pools.find((p) => p.name === name);
    if (!pool) return { code: 'HA_POOL_UNKNOWN', reason: `VM ${vm.name} has a disk in pool ${name}, which is not known` };
    if (pool.kind !== 'shared') {
      return { code: 'HA_DISK_NOT_SHARED', reason: `VM ${vm.name} has a disk in pool ${name}, local to one host: another host could not start it. Move its disks to a shared pool first` };
    }
    const others = pool.hosts.filter((hostId) => hostId !== vm.hostId);
    if (others.length === 0) {
      return { code: 'HA_POOL_SINGLE_HOST', reason: `VM ${vm.name} has a disk in shared pool ${name}, which no other host reaches, so there is nowhere to restart it` };
    }
  }
  return undefined;
}

/** undefined when the HA settings are valid, else why not. */
export function validateHaSettings(settings: HaVmSettings): HaProtectionProblem | undefined {
  if (!Number.isInteger(settings.priority) || settings.priority < 1 || settings.priority > 5) {
    return { code: 'HA_SETTINGS_INVALID', reason: `HA priority must be a whole number from 1 (restarts last) to 5 (first), not ${settings.priority}` };
  }
  if (settings.isolationResponse !== 'keep-running' && settings.isolationResponse !== 'power-off') {
    return { code: 'HA_SETTINGS_INVALID', reason: `isolation response must be keep-running or power-off, not ${String(settings.isolationResponse)}` };
  }
  return undefined;
}
