/**
 * Restart order and placement. Queued VMs go highest priority first; a VM waits while any VM of a
 * higher priority that could restart has neither answered (guest ready) nor passed the tier
 * timeout. Each placement sees the ones made before it in the same step.
 */
import { failVm, issueRestart, setWaiting, type StepContext } from './failover.js';
import { placeRestart, restartView } from './placement.js';
import { formatSeconds } from './outputs.js';
import type { VmHaRecord } from './state.js';

/** Places and issues every queued restart whose tier may start now. */
export function planRestarts(ctx: StepContext): void {
  const queued = Object.values(ctx.state.vms)
    .filter((vm) => vm.phase === 'queued' && ctx.settings.has(vm.vmId))
    .sort((a, b) => priorityOf(ctx, b) - priorityOf(ctx, a) || a.vmId.localeCompare(b.vmId));
  if (queued.length === 0) return;

  const unavailable = new Map<string, string>();
  for (const [hostId, verdict] of ctx.verdicts) if (verdict.liveness !== 'ok') unavailable.set(hostId, `ha: host is ${verdict.liveness}`);
  // HA VMs count where the engine has them: nowhere until placed, and where hosts report them rather than where the store last had them.
  const hostOf = new Map<string, string | null>();
  for (const vm of Object.values(ctx.state.vms)) hostOf.set(vm.vmId, vm.hostId);
  let view = restartView(ctx.input.cluster, unavailable, hostOf);

  for (const vm of queued) {
    const blocker = higherTierBlocking(ctx, vm);
    if (blocker) {
      const until = (blocker.failover?.eligibleAt ?? ctx.now) + ctx.config.timings.tierTimeoutMs;
      setWaiting(ctx, vm, 'tier', `waiting for ${blocker.vmId} (priority ${priorityOf(ctx, blocker)}) to answer, or ${formatSeconds(until - ctx.now)} more`, true);
      continue;
    }
    const vmView = view.vms.find((v) => v.id === vm.vmId);
    if (!vmView) {
      setWaiting(ctx, vm, 'no-host', 'the VM is not in the cluster view');
      continue;
    }
    const excluded = new Map((vm.failover?.failedStarts ?? []).map((s) => [s.hostId, `ha: the restart already failed on this host (${s.reason})`]));
    const placement = placeRestart(view, vmView, unavailable, excluded);
    if (placement.placed) {
      issueRestart(ctx, vm, placement.hostId, placement.reason);
      view = { ...view, vms: view.vms.map((v) => (v.id === vm.vmId ? { ...v, hostId: placement.hostId } : v)) };
    } else if (placement.onlyTriedHostsLeft) {
      failVm(ctx, vm, `only hosts the restart already failed on could take it: ${placement.reason}`);
    } else {
      setWaiting(ctx, vm, 'no-host', `no host can take it now: ${placement.reason}`);
    }
  }
}

function priorityOf(ctx: StepContext, vm: VmHaRecord): number {
  return ctx.settings.get(vm.vmId)?.priority ?? 1;
}

/** A VM of a higher priority that could restart and has neither answered nor passed its tier timeout, if any. */
function higherTierBlocking(ctx: StepContext, vm: VmHaRecord): VmHaRecord | undefined {
  const priority = priorityOf(ctx, vm);
  for (const other of Object.values(ctx.state.vms)) {
    if (other === vm || priorityOf(ctx, other) <= priority || !ctx.settings.has(other.vmId)) continue;
    if (other.phase !== 'queued' && other.phase !== 'starting' && other.phase !== 'started') continue;
    const eligibleAt = other.failover?.eligibleAt;
    if (eligibleAt !== undefined && ctx.now < eligibleAt + ctx.config.timings.tierTimeoutMs) return other;
  }
  return undefined;
}
