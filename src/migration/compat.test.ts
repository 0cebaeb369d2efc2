import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import { checkCompatible, incompatibility, type HostOffer } from './compat.js';
import type { RuntimeIdentity } from './schemas.js';

const source: RuntimeIdentity = { machineType: 'pc-i440fx-7.2', cpuModel: 'Nehalem', accelerator: 'tcg', qemuVersion: '7.2.22' };
const tcgHost: HostOffer = { accelerator: 'tcg', cpuModels: ['qemu64', 'Nehalem', 'Nehalem-v1'], machineTypes: new Set(['pc-i440fx-7.2']) };

test('a destination that presents the VM\'s CPU model, machine type and accelerator is compatible', () => {
  assert.equal(incompatibility(source, tcgHost), undefined);
});

test('each difference is named: CPU model, accelerator, machine type', () => {
  const kvmHost: HostOffer = { accelerator: 'kvm', cpuModels: ['qemu64', 'kvm64'], machineTypes: tcgHost.machineTypes };
  assert.match(incompatibility({ ...source, accelerator: 'kvm' }, kvmHost) ?? '', /runs CPU model Nehalem; this host \(kvm\) cannot present it \(it offers qemu64, kvm64\)/);
  assert.match(incompatibility(source, kvmHost) ?? '', /runs under tcg; this host uses kvm/);
  assert.match(incompatibility({ ...source, machineType: 'pc-i440fx-9.0' }, tcgHost) ?? '', /no machine type pc-i440fx-9\.0/);
  assert.equal(incompatibility({ ...source, accelerator: 'kvm', cpuModel: 'kvm64' }, kvmHost), undefined);
});

test('checkCompatible against this machine\'s QEMU: a named model passes under TCG, host is refused with MIGRATION_INCOMPATIBLE', async () => {
  await checkCompatible(source, 'tcg');
  await assert.rejects(checkCompatible({ ...source, cpuModel: 'host' }, 'tcg'), (e) => isDroverError(e, 'MIGRATION_INCOMPATIBLE') && /CPU model host/.test(e.detail ?? ''));
  await assert.rejects(checkCompatible(source, 'kvm'), (e) => isDroverError(e, 'MIGRATION_INCOMPATIBLE'));
});
