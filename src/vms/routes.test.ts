import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import { startGeneration } from './routes.js';

test('a start carries an HA generation or nothing; anything else is refused with a coded error', () => {
  assert.equal(startGeneration(undefined), undefined);
  assert.equal(startGeneration(null), undefined);
  assert.equal(startGeneration({}), undefined);
  assert.equal(startGeneration({ generation: 7 }), 7);
  for (const bad of [{ generation: 0 }, { generation: 1.5 }, { generation: '2' }, { other: 1 }, [], 'x']) {
    assert.throws(() => startGeneration(bad), (err) => isDroverError(err, 'INVALID_ARGUMENT'), JSON.stringify(bad));
  }
});
