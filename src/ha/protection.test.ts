import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PoolView } from '../scheduler/model.js';
import { vm } from '../scheduler/testing.js';
import { validateHaProtection, validateHaSettings } from './protection.js';
import { haVm } from './testing.js';

const pools: PoolView[] = [
  { name: 'shared', kind: 'shared', hosts: ['h1', 'h2'] },
  { name: 'lonely', kind: 'shared', hosts: ['h1'] },
  { name: 'local-h1', kind: 'local', hosts: ['h1'] },
];

test('only a VM whose every disk is on a shared pool another host reaches can be HA-protected', () => {
  const web = vm('web', { hostId: 'h1' });
  assert.equal(validateHaProtection(web, pools), undefined);
  assert.deepEqual(validateHaProtection({ ...web, pool: 'local-h1' }, pools), {
    code: 'HA_DISK_NOT_SHARED',
    reason: 'VM web has a disk in pool local-h1, local to one host: another host could not start it. Move its disks to a shared pool first',
  });
  assert.equal(validateHaProtection(web, pools, ['shared', 'local-h1'])?.code, 'HA_DISK_NOT_SHARED', 'every disk counts, not only the first');
  assert.equal(validateHaProtection(web, pools, ['shared', 'missing'])?.code, 'HA_POOL_UNKNOWN');
  assert.equal(validateHaProtection({ ...web, pool: 'lonely' }, pools)?.code, 'HA_POOL_SINGLE_HOST');
});

test('HA settings: priority 1 to 5 and a known isolation response', () => {
  assert.equal(validateHaSettings(haVm('web')), undefined);
  // The casts feed values the types forbid, as an unchecked request could carry them.
  assert.equal(validateHaSettings(haVm('web', { priority: 6 as never }))?.code, 'HA_SETTINGS_INVALID');
  assert.match(validateHaSettings(haVm('web', { priority: 0 as never }))?.reason ?? '', /from 1 \(restarts last\) to 5 \(first\), not 0/);
  assert.match(validateHaSettings(haVm('web', { isolationResponse: 'shutdown' as never }))?.reason ?? '', /keep-running or power-off, not shutdown/);
});
