import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import { GuestNetworkSetups, guestNetworkCommand, type GuestRunner } from './guest-network.js';
import type { NicSpec } from './spec.js';

const nics: NicSpec[] = [
  { mode: 'user', mac: '52:54:00:00:00:01' },
  { mode: 'network', mac: '52:54:00:00:00:02', network: 'blue', vni: 4242, address: '10.60.0.10/24', mtu: 1450 },
];

/** A simulated host: records each step, and lets the test decide when the guest agent answers. */
class SimulatedGuestRunner implements GuestRunner {
  readonly steps: string[] = [];
  private readonly answers: Array<() => void> = [];
  exitCode = 0;

  waitReady(id: string): Promise<void> {
    this.steps.push(`wait ${id}`);
    return new Promise((resolve) => this.answers.push(resolve));
  }

  async exec(id: string, command: string, args: string[]): Promise<{ exitCode: number; stderr: string }> {
    this.steps.push(`exec ${id} ${command} ${args.slice(3).join(' ')}`);
    return { exitCode: this.exitCode, stderr: this.exitCode ? 'RTNETLINK answers: File exists' : '' };
  }

  /** The guest agent answers every wait so far. */
  answer(): void {
    for (const resolve of this.answers.splice(0)) resolve();
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('a guest reset sets the addresses again, after the setup still waiting from the start', async () => {
  const runner = new SimulatedGuestRunner();
  const setups = new GuestNetworkSetups(runner);
  setups.afterStart('web', 'id-1', nics);
  const first = setups.latest('web');
  await tick();
  // The guest reboots before its agent ever answered: the second setup must not wait alongside the first.
  setups.afterReset('web', 'id-1', nics);
  const second = setups.latest('web');
  assert.notEqual(second, first);
  await tick();
  assert.deepEqual(runner.steps, ['wait id-1']);
  runner.answer();
  await first;
  await tick();
  runner.answer();
  await second;
  const exec = 'exec id-1 /bin/sh 52:54:00:00:00:02 10.60.0.10/24 1450';
  assert.deepEqual(runner.steps, ['wait id-1', exec, 'wait id-1', exec]);
  assert.deepEqual(guestNetworkCommand([nics[1] as Extract<NicSpec, { mode: 'network' }>]).args.slice(3), ['52:54:00:00:00:02', '10.60.0.10/24', '1450']);
});

test('VMs without virtual-network NICs get no setup; a failed one is kept for waitReady as NETWORK_ERROR', async () => {
  const runner = new SimulatedGuestRunner();
  const setups = new GuestNetworkSetups(runner);
  setups.afterStart('plain', 'id-2', [nics[0]!]);
  setups.afterReset('plain', 'id-2', [nics[0]!]);
  assert.equal(setups.latest('plain'), undefined);
  assert.deepEqual(runner.steps, []);

  runner.exitCode = 2;
  setups.afterReset('web', 'id-1', nics);
  runner.answer();
  await tick();
  runner.answer();
  await assert.rejects(setups.latest('web')!, (e) => isDroverError(e, 'NETWORK_ERROR') && /File exists/.test(e.detail ?? ''));
  setups.forget('web');
  assert.equal(setups.latest('web'), undefined);
});
