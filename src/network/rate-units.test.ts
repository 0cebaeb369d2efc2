import { it } from 'node:test';
import assert from 'node:assert/strict';
import { DroverError } from '../shared/errors.js';
import { formatRate, kbitToMbit, mbitToKbit, parseRate } from './rate-units.js';

const refused = (fn: () => unknown) => assert.throws(fn, (err) => err instanceof DroverError && err.code === 'INVALID_RATE_LIMIT');

it('parses bit units case-insensitively and Proxmox-style MB/s', () => {
  assert.equal(parseRate('10mbit'), 10_000);
  assert.equal(parseRate('10Mbit'), 10_000);
  assert.equal(parseRate('500kbit'), 500);
  assert.equal(parseRate('1gbit'), 1_000_000);
  assert.equal(parseRate('2.5mbit'), 2500);
  assert.equal(parseRate('2MB/s'), 16_000, 'megabytes per second, as Proxmox rate=');
});

it('refuses bare numbers, unknown units and limits outside 8 kbit/s..100 Gbit/s', () => {
  for (const text of ['10', '', 'mbit', '10 bananas', '10mb/s', '-5mbit', '0mbit', '7kbit', '101gbit', '1e3mbit']) refused(() => parseRate(text));
});

it('converts the API Mbit/s to whole kbit/s and back', () => {
  assert.equal(mbitToKbit(8), 8000);
  assert.equal(mbitToKbit(0.5), 500);
  assert.equal(kbitToMbit(8000), 8);
  for (const mbit of [0, 0.001, -1, 100_001, Number.NaN]) refused(() => mbitToKbit(mbit));
});

it('formats limits in the largest whole-ish unit', () => {
  assert.deepEqual([formatRate(8000), formatRate(500), formatRate(2_000_000), formatRate(1234)], ['8 Mbit/s', '500 kbit/s', '2 Gbit/s', '1234 kbit/s']);
});
