import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stepHa, type HaStepResult } from './engine.js';
import type { HaReport, HaVmSettings, HostObservation, HostVmReport } from './model.js';
import type { HaAction } from './outputs.js';
import { createHaState, type HaState, nextGeneration, restoreHaState, serializeHaState } from './state.js';
import { haInput, haVm, observation, running, smallCluster } from './testing.js';
import { SCENARIO_CONFIG as DEFAULT_HA_CONFIG } from './testing.js';
import { cluster, host, vm } from '../scheduler/testing.js';

/** h1 died at 0 (last renewal and heartbeat); h2 and h3 are alive. VMs on h1 run at generation 1. */
function world(vms: HaVmSettings[], options: { fenceDevice?: boolean; watchdog?: boolean; placement?: Record<string, string | null> } = {}) {
  let state = createHaState(0);
  const placement: Record<string, string | null> = options.placement ?? Object.fromEntries(vms.map((v) => [v.vmId, 'h1']));
  for (const [vmId, hostId] of Object.entries(placement)) if (hostId) ({ state } = nextGeneration(state, vmId, hostId));
  const view = smallCluster(['h1', 'h2', 'h3'], placement);
  const h1 = observation('h1', 0, { fenceDevice: options.fenceDevice ?? true, watchdog: options.watchdog ?? false, vms: vms.map((v) => running(v.vmId, 1)) });
  return { state, view, h1 };
}

/** One step at `now` with h2 and h3 renewing then, reporting `reports` VMs. */
function stepAt(state: HaState, now: number, h1: HostObservation, vms: HaVmSettings[], view = smallCluster(['h1', 'h2', 'h3'], {}), extra: { reports?: HaReport[]; h2?: HostVmReport[]; h3?: HostVmReport[] } = {}): HaStepResult {
  const hosts = [h1, observation('h2', now, { vms: extra.h2 ?? [] }), observation('h3', now, { vms: extra.h3 ?? [] })];
  return stepHa(state, haInput(now, view, hosts, vms, { reports: extra.reports ?? [] }), DEFAULT_HA_CONFIG);
}

function kinds(actions: readonly HaAction[]): string[] {
  return actions.map((a) => `${a.kind} ${'vmId' in a ? a.vmId : a.hostId}${'generation' in a && a.kind === 'restart-vm' ? ` ${a.hostId} gen ${a.generation}` : ''}`);
}

const off = (attempt = 1): HaReport => ({ kind: 'fence-result', hostId: 'h1', attempt, outcome: 'off', detail: 'status: off' });

test('a step never changes the state it is given, and replaying its answers adds nothing', () => {
  const vms = [haVm('db')];
  const { state, view, h1 } = world(vms);
  const before = structuredClone(state);
  const failed = stepAt(state, 10_000, h1, vms, view);
  assert.deepEqual(state, before);
  assert.deepEqual(kinds(failed.actions), ['fence-host h1']);
  const fenced = stepAt(failed.state, 11_000, h1, vms, view, { reports: [off()] });
  assert.deepEqual(kinds(fenced.actions), ['restart-vm db h2 gen 2']);
  const replayed = stepAt(fenced.state, 11_100, h1, vms, view, { reports: [off()] });
  assert.deepEqual(replayed.actions, [], 'the same fence answer again restarts nothing more');
  const started: HaReport = { kind: 'start-result', vmId: 'db', hostId: 'h2', generation: 2, outcome: 'started', detail: 'ok' };
  const acknowledged = stepAt(replayed.state, 11_200, h1, vms, view, { reports: [started] });
  const again = stepAt(acknowledged.state, 11_300, h1, vms, view, { reports: [started, started] });
  assert.deepEqual(again.actions, []);
  assert.equal(again.state.vms.db?.phase, 'started');
});

test('restarts go highest priority first; the next tier waits for the guests above to answer', () => {
  const vms = [haVm('low', { priority: 1 }), haVm('high', { priority: 5 }), haVm('mid', { priority: 3 }), haVm('mid2', { priority: 3 })];
  const { state, view, h1 } = world(vms);
  let result = stepAt(stepAt(state, 10_000, h1, vms, view).state, 11_000, h1, vms, view, { reports: [off()] });
  assert.deepEqual(kinds(result.actions), ['restart-vm high h2 gen 2']);
  assert.equal(result.state.vms.mid?.failover?.waiting?.code, 'tier');
  // high runs on h2 but its guest has not answered: still waiting.
  result = stepAt(result.state, 12_000, h1, vms, view, { h2: [running('high', 2, 11_500, null)] });
  assert.deepEqual(result.actions, []);
  result = stepAt(result.state, 13_000, h1, vms, view, { h2: [running('high', 2, 11_500, 12_900)] });
  assert.deepEqual(kinds(result.actions), ['restart-vm mid h3 gen 2', 'restart-vm mid2 h2 gen 2']);
});

test('a tier whose guests never answer holds the next one for the tier timeout only', () => {
  const vms = [haVm('low', { priority: 1 }), haVm('high', { priority: 5 })];
  const { state, view, h1 } = world(vms);
  let result = stepAt(stepAt(state, 10_000, h1, vms, view).state, 11_000, h1, vms, view, { reports: [off()] });
  const silent = { h2: [running('high', 2, 11_100, null)] };
  result = stepAt(result.state, 40_999, h1, vms, view, silent);
  assert.deepEqual(result.actions, []);
  result = stepAt(result.state, 41_000, h1, vms, view, silent);
  assert.deepEqual(kinds(result.actions), ['restart-vm low h3 gen 2']);
});

test('a failed start is tried on another host with a new generation, never on the one it failed on', () => {
  const vms = [haVm('db')];
  const { state, view, h1 } = world(vms);
  let result = stepAt(stepAt(state, 10_000, h1, vms, view).state, 11_000, h1, vms, view, { reports: [off()] });
  const failed: HaReport = { kind: 'start-result', vmId: 'db', hostId: 'h2', generation: 2, outcome: 'failed', detail: 'QEMU exited' };
  result = stepAt(result.state, 11_500, h1, vms, view, { reports: [failed] });
  assert.deepEqual(kinds(result.actions), ['restart-vm db h3 gen 3']);
  assert.deepEqual(result.events.find((e) => e.name === 'vm.ha-restart')?.restart?.steps.map((s) => s.step), ['host-failed', 'fenced', 'restart-decided', 'start-failed', 'restart-decided']);
  // A late copy of the first failure answers a restart no longer asked for.
  assert.deepEqual(stepAt(result.state, 11_600, h1, vms, view, { reports: [failed] }).actions, []);
});

test('a restored controller does not resend an acknowledged restart, and asks the host about an unacknowledged one before resending it', () => {
  const vms = [haVm('acked', { priority: 5 }), haVm('lost', { priority: 5 })];
  const { state, view, h1 } = world(vms);
  let result = stepAt(stepAt(state, 10_000, h1, vms, view).state, 11_000, h1, vms, view, { reports: [off()] });
  assert.deepEqual(kinds(result.actions), ['restart-vm acked h2 gen 2', 'restart-vm lost h3 gen 2']);
  result = stepAt(result.state, 11_200, h1, vms, view, { reports: [{ kind: 'start-result', vmId: 'acked', hostId: 'h2', generation: 2, outcome: 'started', detail: 'ok' }] });
  // The controller dies here; its successor starts from the saved text 5 s later.
  const restored = restoreHaState(serializeHaState(result.state), 16_200);
  result = stepAt(restored, 16_200, h1, vms, view);
  assert.deepEqual(kinds(result.actions), ['check-start lost']);
  const notStarted: HaReport = { kind: 'start-check', vmId: 'lost', hostId: 'h3', generation: 2, outcome: 'not-started' };
  result = stepAt(result.state, 16_400, h1, vms, view, { reports: [notStarted] });
  assert.deepEqual(kinds(result.actions), ['restart-vm lost h3 gen 2'], 'the same generation to the same host: it can only ever start once');
  const runningAnswer: HaReport = { kind: 'start-check', vmId: 'lost', hostId: 'h3', generation: 2, outcome: 'running' };
  assert.equal(stepAt(result.state, 16_600, h1, vms, view, { reports: [runningAnswer] }).state.vms.lost?.phase, 'started');
});

test('a host listing an older generation runs a stale instance and is told to stop it, once; a newer generation is adopted', () => {
  const vms = [haVm('db')];
  let { state } = world(vms, { placement: { db: 'h2' } });
  ({ state } = nextGeneration(state, 'db', 'h2'));
  const view = smallCluster(['h1', 'h2', 'h3'], { db: 'h2' });
  const h1 = observation('h1', 1_000);
  const stale = { h2: [running('db', 2)], h3: [running('db', 1)] };
  const first = stepAt(state, 1_000, h1, vms, view, stale);
  assert.deepEqual(first.actions, [{ kind: 'stop-vm', vmId: 'db', hostId: 'h3', generation: 1, reason: 'h3 runs generation 1 of the VM, older than generation 2: a stale instance' }]);
  assert.deepEqual(stepAt(first.state, 1_100, h1, vms, view, stale).actions, []);
  const adopted = stepAt(first.state, 1_200, h1, vms, view, { h3: [running('db', 7)] });
  assert.deepEqual([adopted.state.vms.db?.generation, adopted.state.vms.db?.hostId], [7, 'h3']);
});

test('a host that comes back still running the VM ends the failover without a restart', () => {
  const vms = [haVm('db')];
  const { state, view, h1 } = world(vms, { fenceDevice: false });
  const waiting = stepAt(state, 10_000, h1, vms, view);
  assert.equal(waiting.state.vms.db?.phase, 'waiting');
  const back = stepAt(waiting.state, 12_000, observation('h1', 12_000, { vms: [running('db', 1)] }), vms, view);
  assert.deepEqual(back.actions, []);
  assert.deepEqual([back.state.vms.db?.phase, back.state.vms.db?.hostId, back.state.vms.db?.generation], ['protected', 'h1', 1]);
});

test('a VM its live host stops listing is restarted, at most three times an hour, then failed', () => {
  const vms = [haVm('db')];
  let { state } = world(vms, { placement: { db: 'h2' } });
  const view = smallCluster(['h1', 'h2', 'h3'], { db: 'h2' });
  const h1 = observation('h1', 0, { vms: [] });
  let generation = 1;
  for (let round = 0; round < 3; round++) {
    const now = 1_000 + round * 60_000;
    state = stepAt(state, now, observation('h1', now), vms, view, { h2: [running('db', generation, now - 500)] }).state;
    const gone = stepAt(state, now + 100, observation('h1', now + 100), vms, view);
    assert.deepEqual(kinds(gone.actions), [`restart-vm db ${gone.state.vms.db?.hostId} gen ${generation + 1}`], `round ${round}`);
    generation += 1;
    // Let it run on h2 again (as the store would have it).
    ({ state } = nextGeneration(gone.state, 'db', 'h2'));
    generation += 1;
  }
  state = stepAt(state, 200_000, h1, vms, view, { h2: [running('db', generation)] }).state;
  const fourth = stepAt(state, 200_100, h1, vms, view);
  assert.deepEqual(kinds(fourth.actions), ['mark-vm-failed db']);
  assert.match(fourth.events[0]?.reason ?? '', /^the VM stopped on its host 4 times within 60 min; HA restarts it at most 3 times in that window$/);
});

test('confirm-down of a host that renews its lease is refused and restarts nothing', () => {
  const vms = [haVm('db')];
  const { state, view } = world(vms, { fenceDevice: false });
  const alive = observation('h1', 5_000, { vms: [running('db', 1)] });
  const result = stepAt(state, 5_100, alive, vms, view, { reports: [{ kind: 'confirm-down', hostId: 'h1', by: 'bob' }] });
  assert.deepEqual(result.actions, []);
  assert.deepEqual(result.events.map((e) => `${e.name}: ${e.reason}`), ['host.confirm-down-refused: bob: h1 still holds its lease (last lease renewal 0.1 s ago): it is running, not down']);
});

test('with no room anywhere the VM waits with the scheduler\'s reasons, said once, and restarts when room appears', () => {
  const vms = [haVm('big')];
  const { state, h1 } = world(vms);
  const full = cluster([host('h1'), host('h2'), host('h3')], [vm('big', { hostId: 'h1', cpus: 9 })]);
  let result = stepAt(stepAt(state, 10_000, h1, vms, full).state, 11_000, h1, vms, full, { reports: [off()] });
  assert.deepEqual(result.actions, []);
  assert.match(result.events.find((e) => e.name === 'vm.ha-waiting' && e.waiting === 'no-host')?.reason ?? '', /^no host can take it now: VM big \(9 vCPU\(s\), 1 GiB\): h1: ha: host is fenced; h2: cpu: needs 9 vCPU\(s\), 8 free/);
  result = stepAt(result.state, 12_000, h1, vms, full);
  assert.deepEqual(result.events, [], 'the same reason is not repeated');
  const bigger = { ...full, hosts: full.hosts.map((h) => (h.id === 'h3' ? { ...h, cpus: 16 } : h)) };
  assert.deepEqual(kinds(stepAt(result.state, 13_000, h1, vms, bigger).actions), ['restart-vm big h3 gen 2']);
});

test('isolation: keep-running VMs are left alone; power-off VMs are stopped and wait for the host to say so', () => {
  const vms = [haVm('keep'), haVm('stop', { isolationResponse: 'power-off' })];
  const { state, view } = world(vms, { watchdog: false });
  const isolated = observation('h1', 0, { lastStorageHeartbeatAt: 9_900, fenceDevice: true, vms: undefined, storageSlot: { leaseLost: false, vms: [{ vmId: 'keep', generation: 1 }, { vmId: 'stop', generation: 1 }] } });
  const result = stepAt(state, 10_000, isolated, vms, view);
  assert.deepEqual(kinds(result.actions), ['stop-vm stop'], 'no fencing of an isolated host');
  assert.deepEqual([result.state.vms.keep?.phase, result.state.vms.stop?.phase], ['protected', 'waiting']);
  const stopped = { ...isolated, lastStorageHeartbeatAt: 10_500, storageSlot: { leaseLost: true, vms: [{ vmId: 'keep', generation: 1 }] } };
  assert.deepEqual(kinds(stepAt(result.state, 10_500, stopped, vms, view).actions), ['restart-vm stop h2 gen 2']);
});

test('guest monitoring resets a silent guest once, not at every step', () => {
  const vms = [haVm('db', { guestMonitoring: true })];
  let { state } = world(vms, { placement: { db: 'h2' } });
  const view = smallCluster(['h1', 'h2', 'h3'], { db: 'h2' });
  const silent = { h2: [running('db', 1, 0, 200_000)] };
  const h1 = observation('h1', 230_000);
  state = stepAt(state, 229_900, h1, vms, view, silent).state;
  const reset = stepAt(state, 230_000, h1, vms, view, silent);
  assert.deepEqual(kinds(reset.actions), ['reset-guest db']);
  assert.deepEqual(stepAt(reset.state, 230_100, h1, vms, view, silent).actions, []);
});

test('a VM its user stopped (the store has it nowhere) is not restarted when its host stops listing it', () => {
  const vms = [haVm('db')];
  let { state } = world(vms, { placement: { db: 'h2' } });
  const h1 = observation('h1', 1_000);
  state = stepAt(state, 1_000, h1, vms, smallCluster(['h1', 'h2', 'h3'], { db: 'h2' }), { h2: [running('db', 1)] }).state;
  const stopped = smallCluster(['h1', 'h2', 'h3'], { db: null });
  state = stepAt(state, 1_100, h1, vms, stopped, { h2: [running('db', 1)] }).state;
  const gone = stepAt(state, 1_200, h1, vms, stopped);
  assert.deepEqual(gone.actions, []);
  assert.equal(gone.state.vms.db?.phase, 'protected');
});
