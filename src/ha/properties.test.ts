/**
 * Properties over random fault schedules on a few simulated hosts and VMs, checked at every
 * simulated step: no VM ever has two instances that could run its guest; no restart is allowed
 * unless the old host was fenced, or had certainly lost lease and storage heartbeat with a watchdog
 * and the wait elapsed, or was confirmed down, or said itself it does not run the VM; and once the
 * faults stop, every HA VM runs exactly once or is marked failed (given room, and a working fence
 * device or a watchdog on every host that can die).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { HaPriority } from './model.js';
import { type SimulatedFault, type SimulatedFenceMode, SimulatedCluster, type SimulatedHostSpec, type SimulatedOptions, type SimulatedVmSpec } from './simulation.js';
import { DEFAULT_HA_TIMINGS as T } from './timings.js';

/** Hosts that can die; one more host, never faulted, always has room for every VM. */
const hostArbitrary = fc.record({
  watchdog: fc.boolean(),
  fence: fc.constantFrom<SimulatedFenceMode>('works', 'works', 'fails', 'hangs', 'none'),
});

const vmArbitrary = fc.record({
  host: fc.nat(),
  priority: fc.integer({ min: 1, max: 5 }),
  powerOff: fc.boolean(),
});

const faultArbitrary = fc.record({
  kind: fc.constantFrom('power-off', 'power-cycle', 'network', 'storage', 'network-and-storage', 'freeze', 'agent-crash', 'controller-restart', 'controller-storage', 'start-fails', 'fence-repaired', 'late-starts'),
  host: fc.nat(),
  atSeconds: fc.integer({ min: 1, max: 60 }),
  forSeconds: fc.integer({ min: 1, max: 45 }),
  confirmAfterSeconds: fc.option(fc.integer({ min: 5, max: 60 }), { nil: undefined }),
});

/** Latencies of the simulated world, including a fence answer slower than its timeout and a guest slower than the tier timeout. */
const optionsArbitrary = fc.record({
  messageDelayMs: fc.constantFrom(100, 100, 500, 2_000),
  fenceDelayMs: fc.constantFrom(1_000, 1_000, 4_000, 12_000),
  guestBootMs: fc.constantFrom(2_000, 2_000, 40_000),
});

const worldArbitrary = fc.record({
  hosts: fc.array(hostArbitrary, { minLength: 1, maxLength: 3 }),
  vms: fc.array(vmArbitrary, { minLength: 1, maxLength: 5 }),
  faults: fc.array(faultArbitrary, { minLength: 1, maxLength: 4 }),
  options: optionsArbitrary,
});

type World = { hosts: SimulatedHostSpec[]; vms: SimulatedVmSpec[]; faults: SimulatedFault[]; endsAt: number; options: SimulatedOptions };

type Generated = typeof worldArbitrary extends fc.Arbitrary<infer G> ? G : never;

/** Turns generated records into a simulated world whose every transient fault heals by `endsAt`. */
function sample(g: Generated): World {
  const hosts: SimulatedHostSpec[] = [...g.hosts.map((h, i) => ({ id: `h${i + 1}`, watchdog: h.watchdog, fence: h.fence })), { id: 'spare', fence: 'none' }];
  const mortal = hosts.slice(0, -1);
  const vms: SimulatedVmSpec[] = g.vms.map((v, i) => ({
    id: `vm${i + 1}`,
    hostId: (hosts[v.host % hosts.length] as SimulatedHostSpec).id,
    priority: v.priority as HaPriority,
    isolationResponse: v.powerOff ? 'power-off' : 'keep-running',
  }));
  const faults: SimulatedFault[] = [];
  let endsAt = 0;
  for (const f of g.faults) {
    const host = (mortal[f.host % mortal.length] as SimulatedHostSpec).id;
    const at = f.atSeconds * 1000;
    const until = at + f.forSeconds * 1000;
    endsAt = Math.max(endsAt, until);
    const pair = (down: SimulatedFault['kind'], up: SimulatedFault['kind']) => faults.push({ at, kind: down, host } as SimulatedFault, { at: until, kind: up, host } as SimulatedFault);
    switch (f.kind) {
      case 'power-off':
      case 'power-cycle':
        faults.push({ at, kind: 'power-off', host });
        if (f.kind === 'power-cycle') faults.push({ at: until, kind: 'power-on', host });
        // The simulated administrator only ever confirms a host that is really off.
        if (f.confirmAfterSeconds !== undefined) faults.push({ at: at + f.confirmAfterSeconds * 1000, kind: 'confirm-down', host });
        break;
      case 'network':
        pair('network-down', 'network-up');
        break;
      case 'storage':
        pair('storage-down', 'storage-up');
        break;
      case 'network-and-storage':
        pair('network-down', 'network-up');
        pair('storage-down', 'storage-up');
        break;
      case 'freeze':
        pair('freeze', 'thaw');
        break;
      case 'agent-crash':
        pair('agent-crash', 'agent-restart');
        break;
      case 'controller-restart':
        faults.push({ at, kind: 'controller-restart', downMs: Math.min(f.forSeconds, 5) * 1000 });
        break;
      case 'controller-storage':
        faults.push({ at, kind: 'controller-storage-down' }, { at: until, kind: 'controller-storage-up' });
        break;
      case 'start-fails':
        faults.push({ at, kind: 'start-fails', host, fails: true }, { at: until, kind: 'start-fails', host, fails: false });
        break;
      case 'fence-repaired':
        faults.push({ at, kind: 'fence-mode', host, mode: 'works' });
        break;
      case 'late-starts':
        faults.push({ at, kind: 'late-starts', delayMs: f.forSeconds * 1000 });
        break;
    }
  }
  return { hosts, vms, faults, endsAt, options: g.options };
}

/** Whether every host that can die has a way to be declared safe without an administrator by the end. */
function recoverable(world: World): boolean {
  return world.hosts.filter((h) => h.id !== 'spare').every((h) => {
    if (h.watchdog) return true;
    const repaired = world.faults.some((f) => f.kind === 'fence-mode' && f.host === h.id && f.mode === 'works');
    return h.fence === 'works' || repaired;
  });
}

/** Checks that a ground the engine just established is true of the simulated world. */
function assertGroundTrue(sim: SimulatedCluster, vmId: string): void {
  const record = sim.engineState().vms[vmId];
  const failover = record?.failover;
  const ground = failover?.ground;
  if (!record || !failover || !ground || failover.eligibleAt !== sim.now) return;
  const host = sim.host(failover.fromHostId);
  const runs = host.powered && host.instances.has(vmId);
  assert.ok(!runs, `${vmId}: ground ${ground.kind} at ${sim.now} ms, but ${host.spec.id} still has an instance`);
  const wait = T.selfFenceMs + T.safetyMarginMs;
  switch (ground.kind) {
    case 'fenced':
      assert.ok(host.fencedAt !== undefined, `${vmId}: ground fenced, but ${host.spec.id} was never powered off by its fence device`);
      break;
    case 'watchdog': {
      // The host must really have fenced itself: its daemon a full self-fence time and margin ago, a watchdog reset or power loss a margin ago.
      const cutOff = host.cutOff;
      assert.ok(host.spec.watchdog, `${vmId}: ground watchdog on ${host.spec.id}, which has none`);
      assert.ok(cutOff, `${vmId}: watchdog ground at ${sim.now} ms, but ${host.spec.id} never cut itself off`);
      const due = cutOff.at + (cutOff.by === 'self-fence' ? wait : T.safetyMarginMs);
      assert.ok(sim.now >= due, `${vmId}: watchdog ground at ${sim.now} ms, before ${host.spec.id} had certainly fenced itself (${cutOff.by} at ${cutOff.at} ms)`);
      break;
    }
    case 'isolation-deadline':
      assert.ok(host.spec.watchdog, `${vmId}: isolation deadline on ${host.spec.id}, which has no watchdog`);
      assert.ok(sim.now >= host.leaseRenewedAt + T.leaseExpiryMs + wait, `${vmId}: isolation deadline at ${sim.now} ms came too early`);
      break;
    case 'confirmed-down':
      assert.ok(host.confirmedDownAt !== undefined, `${vmId}: confirmed down, but nobody confirmed ${host.spec.id}`);
      break;
    case 'reported-stopped':
      break; // The instance check above is the whole claim.
  }
}

test('random faults: never two instances, every restart has a true ground, and every VM ends up running once or failed', () => {
  fc.assert(
    fc.property(worldArbitrary, (generated) => {
      const world = sample(generated);
      const sim = new SimulatedCluster(world.hosts, world.vms, world.options).schedule(world.faults);
      sim.onStep((s) => {
        for (const vm of world.vms) {
          const instances = s.instancesOf(vm.id);
          assert.ok(instances.length <= 1, `${vm.id} has ${instances.length} instances at ${s.now} ms: ${JSON.stringify(instances)}\n${s.log.join('\n')}\n${s.worldLog.join('\n')}`);
          assertGroundTrue(s, vm.id);
        }
      });
      sim.run(world.endsAt + 120_000);
      for (const restart of sim.restarts) assert.ok(restart.ground !== undefined, `restart of ${restart.action.vmId} without a ground`);
      if (!recoverable(world)) return;
      for (const vm of world.vms) {
        const record = sim.engineState().vms[vm.id];
        if (record?.phase === 'failed') continue;
        const running = sim.instancesOf(vm.id).filter((i) => !i.frozen);
        assert.equal(running.length, 1, `${vm.id} runs ${running.length} times at the end (phase ${record?.phase})\n${sim.log.join('\n')}\n${sim.worldLog.join('\n')}`);
        assert.equal(record?.hostId, running[0]?.hostId, `${vm.id}: the engine places it on ${record?.hostId}, it runs on ${running[0]?.hostId}`);
      }
    }),
    { numRuns: 100 },
  );
});
