/**
 * Where a VM could migrate to. The controller judges it (GET /vms/:name/migration-targets); a
 * controller without that route gets the same picture, coarser, from the host list: every other
 * host, and for each one that cannot take the VM, why.
 */
import { useEffect, useState } from 'react';
import { ApiError, type Host, type MigrationTarget, type Vm } from '../../api';
import { formatBytes } from '../../format';
import { useFleet } from '../../live/fleet';
import { useSession } from '../auth/session';

const MiB = 1024 * 1024;

/** Judges every host but the VM's own from what the host list says (state, health, free memory); the one with most free memory is recommended. */
export function judgeFromHosts(vm: Vm, hosts: Iterable<Host>): MigrationTarget[] {
  const needed = vm.memoryMiB * MiB;
  const judged = [...hosts]
    .filter((host) => host.name !== vm.host)
    .map((host) => {
      const reasons: string[] = [];
      if (host.state === 'maintenance') reasons.push('the host is in maintenance');
      else if (host.state !== 'ready') reasons.push(`the host is ${host.state}`);
      if (host.health !== 'healthy') reasons.push(`the host is ${host.health}${host.lastHeartbeat ? ` (last heartbeat ${new Date(host.lastHeartbeat).toLocaleTimeString()})` : ''}`);
      const free = host.capacity.memoryBytes * (host.memoryOvercommit ?? 1) - host.usage.memoryBytes;
      if (free < needed) reasons.push(`not enough free memory: ${formatBytes(Math.max(free, 0))} free, ${formatBytes(needed)} needed`);
      return { host: host.name, suitable: reasons.length === 0, reasons, free };
    })
    .sort((a, b) => Number(b.suitable) - Number(a.suitable) || b.free - a.free || a.host.localeCompare(b.host));
  const best = judged.find((t) => t.suitable)?.host;
  return judged.map(({ host, suitable, reasons }) => ({ host, suitable, reasons, score: undefined, recommended: host === best }));
}

export interface MigrationTargets {
  targets: MigrationTarget[] | null;
  /** Who judged them: the controller, or this console from the host list. */
  source: 'controller' | 'host-list';
  error: ApiError | null;
}

/** The VM's migration targets, asked once when the dialog opens (the host-list judgement stays live). */
export function useMigrationTargets(vm: Vm): MigrationTargets {
  const { api, fleet } = useSession();
  const { hosts } = useFleet(fleet);
  const [answer, setAnswer] = useState<{ targets: MigrationTarget[] | null; source: 'controller' | 'host-list' | null; error: ApiError | null }>({ targets: null, source: null, error: null });
  useEffect(() => {
    let cancelled = false;
    api.migrationTargets(vm.name).then(
      (targets) => !cancelled && setAnswer({ targets, source: targets ? 'controller' : 'host-list', error: null }),
      (err: unknown) => !cancelled && setAnswer({ targets: null, source: null, error: err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err)) }),
    );
    return () => {
      cancelled = true;
    };
  }, [api, vm.name]);
  if (answer.source === 'host-list') return { targets: judgeFromHosts(vm, hosts.values()), source: 'host-list', error: null };
  return { targets: answer.targets, source: 'controller', error: answer.error };
}
