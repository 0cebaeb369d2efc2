import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../../shared/errors.js';
import { hostCpuModels, parseCpuHelp, requireOfferedCpuModel, summarizeCpuModels } from './cpu-models.js';

test('parseCpuHelp keeps each model name and skips the flag list', () => {
  const help = [
    'Available CPUs:',
    'x86 Nehalem               (alias configured by machine type)',
    'x86 Nehalem-v1            Intel Core i7 9xx (Nehalem Class Core i7)',
    'x86 qemu64                (alias configured by machine type)',
    'x86 host                  processor with all supported host features ',
    '',
    'Recognized CPUID flags:',
    '  3dnow 3dnowext 3dnowprefetch abm',
  ].join('\n');
  assert.deepEqual(parseCpuHelp(help), ['Nehalem', 'Nehalem-v1', 'qemu64', 'host']);
});

test('this machine\'s QEMU: TCG offers its named models but host; KVM only the conservative pair', async () => {
  const tcg = await hostCpuModels('tcg');
  for (const model of ['qemu64', 'Nehalem', 'Nehalem-v2', 'EPYC', 'max']) assert.ok(tcg.includes(model), `TCG offers ${model}`);
  assert.ok(!tcg.includes('host'), 'host needs KVM');
  assert.ok(!tcg.includes('*'));
  assert.deepEqual(await hostCpuModels('kvm'), ['qemu64', 'kvm64']);
});

test('requireOfferedCpuModel: a coded refusal naming what the host offers', () => {
  requireOfferedCpuModel('kvm64', ['qemu64', 'kvm64']);
  assert.throws(
    () => requireOfferedCpuModel('Haswell', ['qemu64', 'kvm64']),
    (e) => isDroverError(e, 'CPU_MODEL_UNSUPPORTED') && /cannot run CPU model Haswell; it offers qemu64, kvm64/.test(e.detail ?? ''),
  );
  assert.match(summarizeCpuModels(Array.from({ length: 40 }, (_, i) => `m${i}`)), /^40 models \(m0, m1, m2, m3, \.\.\./);
});
