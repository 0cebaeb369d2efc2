/**
 * Recovery time after a host failure, on a real three-host testbed (cluster.ts): an HA VM (the tiny guest, shared
 * pool) runs on a host; the host is powered off (`testbed fault HOST power-off`: its agent and QEMUs SIGKILLed);
 * measured from that moment until the VM's record shows it running on another host, and until its guest agent
 * answers there, by polling GET /api/v1/vms/NAME every 100 ms. After each trial exactly one QEMU must run the VM on
 * the testbed, and still exactly one once the failed host is powered on again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { hostFaults } from '../../src/testbed/state.js';
import { errorText, type EventView, type HaCluster } from './cluster.js';

/** How long one failover may take before the trial counts as failed. */
const FAILOVER_TIMEOUT_MS = 180_000;
/** Poll interval for the VM's record. */
export const POLL_MS = 100;
/** The pause between a settled cluster and the next fault. */
const SETTLE_MS = 1_000;

/** One failover. Times in ms from the power-off; the event times are the controller's records of each step. */
export interface RtoTrial {
  from: string;
  to: string;
  runningMs: number;
  readyMs: number;
  /** What HA recorded, in ms from the fault: the host suspect, failed, fenced; the restart decided; the guest's answer. */
  steps: Partial<Record<'suspect' | 'failed' | 'fenced' | 'restart' | 'guestReady', number>>;
  /** The ground HA restarted on (fenced, watchdog...), from the vm.ha-restart event. */
  ground: string | undefined;
  /** QEMUs running the VM once it answered elsewhere, and once the old host was back. Both must be 1. */
  qemusAfterRestart: number;
  qemusAfterPowerOn: number;
  /** The most QEMUs running the VM (not stopped) at any poll during the trial. */
  mostQemusAtOnce: number;
  /** The failed host was the first testbed host in the controller's host list: the one it reads the heartbeat slots through while that host's lease is fresh. */
  slotReader: boolean;
}

function stepTimes(events: EventView[], vm: string, from: string, t0: number): { steps: RtoTrial['steps']; ground: string | undefined } {
  const steps: RtoTrial['steps'] = {};
  let ground: string | undefined;
  const at = (e: EventView) => Date.parse(e.time) - t0;
  for (const e of events) {
    if (e.object.name === from && e.action === 'host.suspect') steps.suspect ??= at(e);
    if (e.object.name === from && e.action === 'host.failed') steps.failed ??= at(e);
    if (e.object.name === from && e.action === 'host.fenced') steps.fenced ??= at(e);
    if (e.object.name === vm && e.action === 'vm.ha-restart' && steps.restart === undefined) {
      steps.restart = at(e);
      ground = (e.detail as { restart?: { ground?: string } } | null)?.restart?.ground;
    }
    if (e.object.name === vm && e.action === 'vm.guest-ready' && steps.restart !== undefined) steps.guestReady ??= at(e);
  }
  return { steps, ground };
}

/** Waits until the VM runs with its guest answering, HA has it protected, and every testbed host is ok; returns the VM. */
export async function waitSettled(cluster: HaCluster, vm: string, timeoutMs: number): Promise<{ host: string; pid: number | null }> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const view = await cluster.vm(vm);
    const status = await cluster.haStatus();
    const phase = status.vms.find((v) => v.name === vm)?.phase;
    const notOk = status.hosts.filter((h) => /^host\d+$/.test(h.name) && h.liveness !== 'ok').map((h) => `${h.name} ${h.liveness}`);
    if (view.host && view.state === 'running' && view.guestReady && phase === 'protected' && notOk.length === 0) return { host: view.host, pid: view.pid };
    last = `${vm} ${view.state} on ${view.host ?? '-'}, guest ${view.guestReady ? 'ready' : 'not ready'}, HA phase ${phase ?? '-'}; hosts not ok: ${notOk.join(', ') || 'none'}`;
    await sleep(250);
  }
  throw new Error(`not settled within ${timeoutMs / 1000} s: ${last}`);
}

/** Powers off the host of `vm` (running and answering) and measures the failover; see the file comment. The host is powered on again before it returns or throws. */
export async function rtoTrial(cluster: HaCluster, vm: string): Promise<RtoTrial> {
  const before = await waitSettled(cluster, vm, FAILOVER_TIMEOUT_MS);
  const from = before.host;
  const { hosts } = await cluster.api<{ hosts: Array<{ name: string }> }>('GET', '/api/v1/hosts');
  const slotReader = hosts.find((h) => /^host\d+$/.test(h.name))?.name === from;
  await sleep(SETTLE_MS);
  const since = new Date().toISOString();
  const t0 = Date.now();
  let poweredOff = false;
  try {
    await cluster.fault(from, 'power-off');
    poweredOff = true;
    let runningMs: number | undefined;
    let readyMs: number | undefined;
    let to = '';
    let mostQemusAtOnce = 0;
    for (let tick = 1; readyMs === undefined; tick++) {
      const elapsed = Date.now() - t0;
      if (elapsed > FAILOVER_TIMEOUT_MS) {
        const view = await cluster.vm(vm);
        throw new Error(`${vm} not ${runningMs === undefined ? 'running' : 'answering'} on another host ${FAILOVER_TIMEOUT_MS / 1000} s after ${from} was powered off (${view.state} on ${view.host ?? '-'})`);
      }
      const view = await cluster.vm(vm);
      const at = Date.now() - t0;
      if (view.host && view.host !== from && view.state === 'running') {
        runningMs ??= at;
        to = view.host;
        // Until HA's start answers, the record may still carry the old instance's pid and guest state.
        if (view.guestReady && view.pid !== before.pid) readyMs = at;
      }
      mostQemusAtOnce = Math.max(mostQemusAtOnce, (cluster.census().get(vm) ?? []).filter((q) => !q.stopped).length);
      await sleep(Math.max(0, t0 + tick * POLL_MS - Date.now()));
    }
    const qemusAfterRestart = (cluster.census().get(vm) ?? []).filter((q) => !q.stopped).length;
    const { steps, ground } = stepTimes(await cluster.eventsSince(since), vm, from, t0);
    poweredOff = false;
    await cluster.fault(from, 'power-on');
    const notOk = await cluster.waitHostsOk(60_000);
    if (notOk.length > 0) throw new Error(`after power-on, hosts not ok within 60 s: ${notOk.join(', ')}`);
    // A beat for the old host's agent to have acted on anything it still held of the VM.
    await sleep(2_000);
    const qemusAfterPowerOn = (cluster.census().get(vm) ?? []).filter((q) => !q.stopped).length;
    return { from, to, runningMs: runningMs ?? readyMs, readyMs, steps, ground, qemusAfterRestart, qemusAfterPowerOn, mostQemusAtOnce, slotReader };
  } finally {
    if (poweredOff) await cluster.fault(from, 'power-on').catch(() => undefined);
  }
}

/** After a failed trial: every host thawed, reconnected and powered on, and judged ok again. */
export async function recoverHosts(cluster: HaCluster, log: (message: string) => void): Promise<void> {
  for (const host of cluster.hosts()) {
    const faults = hostFaults(host);
    if (faults.frozen) await cluster.fault(host.name, 'thaw').catch((err: unknown) => log(`thaw ${host.name}: ${errorText(err)}`));
    if (faults.networkDown) await cluster.fault(host.name, 'network-up').catch((err: unknown) => log(`network-up ${host.name}: ${errorText(err)}`));
    if (faults.poweredOff) await cluster.fault(host.name, 'power-on').catch((err: unknown) => log(`power-on ${host.name}: ${errorText(err)}`));
  }
  const notOk = await cluster.waitHostsOk(60_000);
  if (notOk.length > 0) log(`hosts still not ok after the failed trial: ${notOk.join(', ')}`);
}
