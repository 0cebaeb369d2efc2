/**
 * Scripted failover scenarios with expected logs, in the manner of Proxmox's pve-ha-manager
 * regression tests: each runs a simulated cluster through timed faults and compares the engine's
 * events, line by line, with the log a person checked once. Times are seconds of simulated time;
 * hosts renew their lease and write their storage heartbeat every 100 ms tick, so a host that dies
 * at 5.0 s last renewed at 4.9 s, is suspect at 7.9 s and has lost lease and heartbeat at 14.9 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAdmission } from './admission.js';
import { cluster, GiB, host, vm } from '../scheduler/testing.js';
import { SCENARIO_CONFIG } from './testing.js';
import { type SimulatedFault, SimulatedCluster, type SimulatedHostSpec, type SimulatedVmSpec } from './simulation.js';

interface Scenario {
  hosts: SimulatedHostSpec[];
  vms: SimulatedVmSpec[];
  faults: SimulatedFault[];
  until: number;
}

/** Runs a scenario, checking at every step that no VM has two instances; returns the simulation. */
function play({ hosts, vms, faults, until }: Scenario): SimulatedCluster {
  const sim = new SimulatedCluster(hosts, vms, { config: SCENARIO_CONFIG }).schedule(faults);
  sim.onStep((s) => {
    for (const v of vms) assert.ok(s.instancesOf(v.id).length <= 1, `${v.id} runs twice at ${s.now} ms: ${JSON.stringify(s.instancesOf(v.id))}`);
  });
  return sim.run(until);
}

/** Where each VM runs at the end, as `vm@host gen N` (frozen instances marked). */
function placement(sim: SimulatedCluster, vms: readonly SimulatedVmSpec[]): string[] {
  return vms.flatMap((v) => sim.instancesOf(v.id).map((i) => `${v.id}@${i.hostId} gen ${i.generation}${i.frozen ? ' frozen' : ''}`));
}

function reasonsOf(sim: SimulatedCluster, name: string): string[] {
  return sim.events.filter((e) => e.name === name).map((e) => e.reason);
}

const tiered: SimulatedVmSpec[] = [
  { id: 'web', hostId: 'h1', priority: 1 },
  { id: 'db', hostId: 'h1', priority: 5 },
  { id: 'app', hostId: 'h1', priority: 3 },
];

test('power-off with a fence device: fenced, then restarted in priority order, each tier after the one above answered', () => {
  const sim = play({ hosts: [{ id: 'h1', fence: 'works' }, { id: 'h2' }, { id: 'h3' }], vms: tiered, faults: [{ at: 5_000, kind: 'power-off', host: 'h1' }], until: 40_000 });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.failed h1',
    '14.9 vm.ha-waiting web (fence-pending)',
    '14.9 vm.ha-waiting db (fence-pending)',
    '14.9 vm.ha-waiting app (fence-pending)',
    '15.9 host.fenced h1',
    '15.9 vm.ha-restart db h1->h2 gen 2 (fenced)',
    // db's guest answered at 18.0 (started 16.0, 2 s boot), so the priority-3 tier starts.
    '18.0 vm.ha-restart app h1->h3 gen 2 (fenced)',
    '20.1 vm.ha-restart web h1->h2 gen 2 (fenced)',
  ]);
  assert.deepEqual(placement(sim, tiered), ['web@h2 gen 2', 'db@h2 gen 2', 'app@h3 gen 2']);
  const restart = sim.events.find((e) => e.name === 'vm.ha-restart' && e.vmId === 'db')?.restart;
  assert.deepEqual(restart?.steps.map((s) => `${s.step}@${s.at / 1000}`), ['host-failed@14.9', 'fenced@15.9', 'restart-decided@15.9']);
  assert.equal(restart?.fromHostId, 'h1');
});

test('power-off without a fence device but with a watchdog: restart once lease expiry, self-fence time and margin have passed', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1', priority: 5 }, { id: 'web', hostId: 'h1', priority: 1 }];
  const sim = play({ hosts: [{ id: 'h1', watchdog: true }, { id: 'h2' }], vms, faults: [{ at: 5_000, kind: 'power-off', host: 'h1' }], until: 40_000 });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.failed h1',
    '14.9 vm.ha-waiting db (self-fence-deadline)',
    '14.9 vm.ha-waiting web (self-fence-deadline)',
    // Last renewal 4.9 s + lease expiry 10 s + self-fence 10 s + margin 5 s.
    '29.9 vm.ha-restart db h1->h2 gen 2 (watchdog)',
    '32.0 vm.ha-restart web h1->h2 gen 2 (watchdog)',
  ]);
  assert.deepEqual(placement(sim, vms), ['db@h2 gen 2', 'web@h2 gen 2']);
  assert.match(reasonsOf(sim, 'vm.ha-waiting')[0] ?? '', /h1 has a watchdog: it kills its HA guests or is reset within 10\.0 s of being cut off; restart allowed after that and a 5\.0 s margin, in 15\.0 s/);
});

test('power-off with neither fence device nor watchdog: nothing restarts until an administrator confirms the host is down', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1', priority: 5 }];
  const sim = play({ hosts: [{ id: 'h1' }, { id: 'h2' }], vms, faults: [{ at: 5_000, kind: 'power-off', host: 'h1' }, { at: 300_000, kind: 'confirm-down', host: 'h1' }], until: 310_000 });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.failed h1',
    '14.9 vm.ha-waiting db (confirm-down)',
    '300.0 host.confirmed-down h1',
    '300.0 vm.ha-restart db h1->h2 gen 2 (confirmed-down)',
  ]);
  assert.equal(sim.actions.filter((a) => a.action.kind === 'restart-vm' && a.at < 300_000).length, 0, 'nothing restarts before the confirmation');
  assert.match(reasonsOf(sim, 'vm.ha-waiting')[0] ?? '', /no fence device and no watchdog: HA never guesses, so the VM waits until an administrator confirms h1 is down/);
  assert.deepEqual(placement(sim, vms), ['db@h2 gen 2']);
});

test('network down with keep-running: the isolated host keeps its VMs, nothing restarts, nothing runs twice after the link returns', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1', priority: 5 }, { id: 'web', hostId: 'h1' }];
  const sim = play({ hosts: [{ id: 'h1', fence: 'works', watchdog: true }, { id: 'h2' }], vms, faults: [{ at: 5_000, kind: 'network-down', host: 'h1' }, { at: 65_000, kind: 'network-up', host: 'h1' }], until: 80_000 });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.isolated h1',
    '65.0 host.ok h1',
  ]);
  assert.deepEqual(sim.actions, [], 'no fencing, no stop, no restart');
  assert.deepEqual(placement(sim, vms), ['db@h1 gen 1', 'web@h1 gen 1']);
  assert.match(reasonsOf(sim, 'host.isolated')[0] ?? '', /storage heartbeat is 0\.0 s old: the host runs but is cut off from the controller/);
});

test('network down with power-off isolation: the isolated host stops those VMs itself and says so on storage; they restart elsewhere, the others stay', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1', priority: 5, isolationResponse: 'power-off' }, { id: 'web', hostId: 'h1', isolationResponse: 'keep-running' }];
  const sim = play({ hosts: [{ id: 'h1', fence: 'works', watchdog: true }, { id: 'h2' }], vms, faults: [{ at: 5_000, kind: 'network-down', host: 'h1' }, { at: 60_000, kind: 'network-up', host: 'h1' }], until: 70_000 });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.isolated h1',
    // h1 lost its lease at 14.9 s by its own reckoning too, stopped db and wrote so in its heartbeat slot.
    '14.9 vm.ha-restart db h1->h2 gen 2 (reported-stopped)',
    '60.0 host.ok h1',
  ]);
  assert.ok(sim.worldLog.includes('14.9 h1 self-fenced db (lease lost, isolation response power-off)'));
  assert.deepEqual(placement(sim, vms), ['db@h2 gen 2', 'web@h1 gen 1']);
});

test('a fence device that fails: no restart on its word, the event says why, retries until it works', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1', priority: 5 }];
  const sim = play({
    hosts: [{ id: 'h1', fence: 'fails' }, { id: 'h2' }],
    vms,
    faults: [{ at: 5_000, kind: 'power-off', host: 'h1' }, { at: 25_000, kind: 'fence-mode', host: 'h1', mode: 'works' }],
    until: 40_000,
  });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.failed h1',
    '14.9 vm.ha-waiting db (fence-pending)',
    '15.9 host.fence-failed h1',
    '15.9 vm.ha-waiting db (fence-failing)',
    '21.9 host.fence-failed h1',
    // The device is repaired at 25 s; the retry at 26.9 s works.
    '27.9 host.fenced h1',
    '27.9 vm.ha-restart db h1->h2 gen 2 (fenced)',
  ]);
  const [failed] = reasonsOf(sim, 'host.fence-failed');
  assert.match(failed ?? '', /^fence attempt 1 failed: the BMC refused the power-off command \(simulated\); a failed or unanswered fence is not a confirmation, so nothing restarts on its word; retrying in 5\.0 s$/);
  assert.match(reasonsOf(sim, 'vm.ha-waiting')[1] ?? '', /h1 has no watchdog, so only a confirmed fence or an administrator's confirm-down allows a restart/);
  assert.deepEqual(sim.actions.filter((a) => a.action.kind === 'fence-host').map((a) => a.at / 1000), [14.9, 20.9, 26.9]);
});

test('a fence device that hangs: the attempt times out, which is no confirmation; with a watchdog the VM restarts at the self-fence deadline', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1', priority: 5 }];
  const sim = play({ hosts: [{ id: 'h1', fence: 'hangs', watchdog: true }, { id: 'h2' }], vms, faults: [{ at: 5_000, kind: 'power-off', host: 'h1' }], until: 40_000 });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.failed h1',
    '14.9 vm.ha-waiting db (fence-pending)',
    '24.9 host.fence-failed h1',
    '24.9 vm.ha-waiting db (fence-failing)',
    '29.9 vm.ha-restart db h1->h2 gen 2 (watchdog)',
  ]);
  assert.match(reasonsOf(sim, 'host.fence-failed')[0] ?? '', /^fence attempt 1 failed: no answer within 10\.0 s; a failed or unanswered fence is not a confirmation/);
  assert.deepEqual(placement(sim, vms), ['db@h2 gen 2']);
});

test('an agent crash alone causes no failover: a short one makes the host suspect, a long one isolated (its heartbeat daemon keeps writing storage)', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1', priority: 5 }, { id: 'web', hostId: 'h1' }];
  const sim = play({
    hosts: [{ id: 'h1', fence: 'works', watchdog: true }, { id: 'h2' }],
    vms,
    faults: [
      { at: 5_000, kind: 'agent-crash', host: 'h1' },
      { at: 9_000, kind: 'agent-restart', host: 'h1' },
      { at: 20_000, kind: 'agent-crash', host: 'h1' },
      { at: 50_000, kind: 'agent-restart', host: 'h1' },
    ],
    until: 60_000,
  });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '9.0 host.ok h1',
    '22.9 host.suspect h1',
    '29.9 host.isolated h1',
    '50.0 host.ok h1',
  ]);
  assert.deepEqual(sim.actions, [], 'no fencing and no restart');
  assert.deepEqual(placement(sim, vms), ['db@h1 gen 1', 'web@h1 gen 1']);
});

test('a controller restart during a failover: the restored state resumes it, asks about the unanswered restart, and every VM runs exactly once', () => {
  const sim = play({
    hosts: [{ id: 'h1', fence: 'works' }, { id: 'h2' }, { id: 'h3' }],
    vms: tiered,
    // Down from 16.1 s: db's restart went out at 15.9 s and reached h2 at 16.0 s, but h2's answer is lost with the old process.
    faults: [{ at: 5_000, kind: 'power-off', host: 'h1' }, { at: 16_050, kind: 'controller-restart', downMs: 2_000 }],
    until: 40_000,
  });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.failed h1',
    '14.9 vm.ha-waiting web (fence-pending)',
    '14.9 vm.ha-waiting db (fence-pending)',
    '14.9 vm.ha-waiting app (fence-pending)',
    '15.9 host.fenced h1',
    '15.9 vm.ha-restart db h1->h2 gen 2 (fenced)',
    // Restored at 18.1 s: h2 reports db running and its guest ready at 18.2 s, so the next tier goes.
    '18.2 vm.ha-restart app h1->h3 gen 2 (fenced)',
    '20.3 vm.ha-restart web h1->h2 gen 2 (fenced)',
  ]);
  assert.ok(sim.worldLog.includes('18.1 controller restarted from its saved state'));
  const afterRestart = sim.actions.filter((a) => a.at >= 18_100).map((a) => `${a.at / 1000} ${a.action.kind} ${'vmId' in a.action ? a.action.vmId : a.action.hostId}`);
  // The unanswered restart of db is checked, never sent again; the fenced host is not fenced again.
  assert.deepEqual(afterRestart, ['18.1 check-start db', '18.2 restart-vm app', '20.3 restart-vm web']);
  assert.deepEqual(placement(sim, tiered), ['web@h2 gen 2', 'db@h2 gen 2', 'app@h3 gen 2']);
});

test('the relocation limit: a restart failing on every host it tries ends with the VM failed and the reason', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1' }];
  const sim = play({
    hosts: [{ id: 'h1', fence: 'works' }, { id: 'h2' }, { id: 'h3' }, { id: 'h4' }, { id: 'h5' }],
    vms,
    faults: [
      ...['h2', 'h3', 'h4', 'h5'].map((h): SimulatedFault => ({ at: 1_000, kind: 'start-fails', host: h, fails: true })),
      { at: 5_000, kind: 'power-off', host: 'h1' },
    ],
    until: 30_000,
  });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.failed h1',
    '14.9 vm.ha-waiting db (fence-pending)',
    '15.9 host.fenced h1',
    '15.9 vm.ha-restart db h1->h2 gen 2 (fenced)',
    '16.1 vm.ha-restart db h1->h3 gen 3 (fenced)',
    '16.3 vm.ha-restart db h1->h4 gen 4 (fenced)',
    '16.5 vm.ha-failed db',
  ]);
  assert.equal(
    reasonsOf(sim, 'vm.ha-failed')[0],
    'the restart failed on 3 host(s) and the relocation limit is 2: h2: QEMU exited during start (simulated); h3: QEMU exited during start (simulated); h4: QEMU exited during start (simulated)',
  );
  assert.deepEqual(sim.events.filter((e) => e.name === 'vm.ha-restart').map((e) => e.restart?.attempt), [1, 2, 3]);
  assert.ok(sim.actions.some((a) => a.action.kind === 'mark-vm-failed' && a.action.vmId === 'db'));
  assert.deepEqual(placement(sim, vms), []);
});

test('a long freeze: the watchdog resets the frozen host before the restart elsewhere; when it returns it runs nothing', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1' }];
  const sim = play({ hosts: [{ id: 'h1', watchdog: true }, { id: 'h2' }], vms, faults: [{ at: 5_000, kind: 'freeze', host: 'h1' }, { at: 40_000, kind: 'thaw', host: 'h1' }], until: 60_000 });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.failed h1',
    '14.9 vm.ha-waiting db (self-fence-deadline)',
    '29.9 vm.ha-restart db h1->h2 gen 2 (watchdog)',
    '34.9 host.ok h1',
  ]);
  // Frozen at 5.0 s, its watchdog last fed at 4.9 s fires at 14.9 s: long before the restart at 29.9 s.
  assert.ok(sim.worldLog.includes('14.9 h1 reset by its watchdog, killing db'));
  assert.deepEqual(placement(sim, vms), ['db@h2 gen 2']);
});

test('a short freeze: the host is suspect for a while and its VMs carry on', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1' }];
  const sim = play({ hosts: [{ id: 'h1', watchdog: true, fence: 'works' }, { id: 'h2' }], vms, faults: [{ at: 5_000, kind: 'freeze', host: 'h1' }, { at: 9_000, kind: 'thaw', host: 'h1' }], until: 40_000 });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '9.0 host.ok h1',
  ]);
  assert.deepEqual(sim.actions, []);
  assert.deepEqual(placement(sim, vms), ['db@h1 gen 1']);
});

test('a restart delayed in the network reaches its host after the VM started elsewhere: the generation check refuses it', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1', isolationResponse: 'power-off' }];
  const sim = play({
    hosts: [{ id: 'h1', fence: 'works' }, { id: 'h2' }, { id: 'h3' }],
    vms,
    faults: [
      { at: 1_000, kind: 'late-starts', delayMs: 40_000 },
      { at: 5_000, kind: 'power-off', host: 'h1' },
      // The restart goes out at 15.9 s; h2 is cut off before it arrives, so only the late copy will.
      { at: 15_950, kind: 'network-down', host: 'h2' },
      { at: 45_000, kind: 'network-up', host: 'h2' },
    ],
    until: 70_000,
  });
  assert.deepEqual(sim.log, [
    '7.9 host.suspect h1',
    '14.9 host.failed h1',
    '14.9 vm.ha-waiting db (fence-pending)',
    '15.9 host.fenced h1',
    '15.9 vm.ha-restart db h1->h2 gen 2 (fenced)',
    '18.9 host.suspect h2',
    // h2 is isolated; db's isolation response is power-off, and h2's heartbeat slot says it does not run db.
    '25.9 host.isolated h2',
    '25.9 vm.ha-restart db h2->h3 gen 3 (reported-stopped)',
    '45.0 host.ok h2',
  ]);
  assert.ok(sim.worldLog.includes('56.0 h2 refused db generation 2: HA_STALE_GENERATION'), sim.worldLog.join('\n'));
  assert.deepEqual(placement(sim, vms), ['db@h3 gen 3']);
});

test('a hung guest is reset once its agent has been silent for 30 s, and nothing else happens', () => {
  const vms: SimulatedVmSpec[] = [{ id: 'db', hostId: 'h1', guestMonitoring: true }];
  const sim = play({ hosts: [{ id: 'h1' }, { id: 'h2' }], vms, faults: [{ at: 10_000, kind: 'guest-hang', vm: 'db' }], until: 80_000 });
  // Last answer at 9.9 s; after the reset the guest boots again and answers, so no second reset.
  assert.deepEqual(sim.log, ['39.9 vm.ha-guest-reset db']);
  assert.equal(reasonsOf(sim, 'vm.ha-guest-reset')[0], 'its guest agent has not answered for 30.0 s (reset after 30.0 s); reset 1 of at most 3 in 60 min');
  assert.deepEqual(placement(sim, vms), ['db@h1 gen 1']);
});

test('admission control refuses when the HA VMs of one failed host would not fit, with the figures', () => {
  const big = { cpus: 4, memoryBytes: 8 * GiB };
  const view = cluster(
    [host('h1'), host('h2'), host('h3')],
    [vm('db', { hostId: 'h1', ...big }), vm('app', { hostId: 'h1', ...big }), vm('cache', { hostId: 'h2', ...big }), vm('queue', { hostId: 'h2', ...big }), vm('web', { hostId: 'h3', cpus: 2, memoryBytes: 4 * GiB })],
  );
  const result = checkAdmission(view, ['db', 'app', 'cache', 'queue', 'web'], 1);
  assert.equal(result.admitted, false);
  assert.deepEqual(result.figures && { ...result.figures, unplaced: result.figures.unplaced.map((u) => u.vmId) }, {
    failedHostIds: ['h1'],
    neededCpus: 8,
    neededMemoryBytes: 16 * GiB,
    spareCpus: 6,
    spareMemoryBytes: 12 * GiB,
    // Equal sizes go in input order: db takes h3's room, app finds none.
    unplaced: ['app'],
  });
  assert.match(result.reason, /^not enough failover capacity: if h1 fails, their HA VMs need 8 vCPU\(s\) and 16 GiB; the remaining hosts have 6 vCPU\(s\) and 12 GiB spare, and 1 HA VM\(s\) could not be placed \(app\); VM app \(4 vCPU\(s\), 8 GiB\): h1: ha: failed in this case; h2: cpu: needs 4 vCPU\(s\), 0 free/);
  // Without the web VM's load on h3 the same cluster could lose any one host.
  assert.equal(checkAdmission(view, ['db', 'app', 'cache', 'queue'], 1).admitted, false, 'web still takes room even when it is not HA');
  assert.equal(checkAdmission({ ...view, vms: view.vms.filter((v) => v.id !== 'web') }, ['db', 'app', 'cache', 'queue'], 1).admitted, true);
});
