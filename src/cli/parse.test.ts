import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { collectNetworkAttachment, collectPortForward, defaultSnapshotName, integerIn, parseNetworkAttachment,
  parseRateMbit, parsePortForward, parseTime, secondsToMs, wantsJson } from './parse.js';

const now = new Date('2024-05-01T12:00:00.000Z');

describe('parseTime', () => {
  it('turns durations into times before now', () => {
    assert.equal(parseTime('30s', now), '2024-05-01T11:59:30.000Z');
    assert.equal(parseTime('10m', now), '2024-05-01T11:50:00.000Z');
    assert.equal(parseTime('2h', now), '2024-05-01T10:00:00.000Z');
    assert.equal(parseTime('1d', now), '2024-04-30T12:00:00.000Z');
    assert.equal(parseTime('1w', now), '2024-04-24T12:00:00.000Z');
  });

  it('normalises ISO times to UTC', () => {
    assert.equal(parseTime('2024-05-01T10:00:00Z', now), '2024-05-01T10:00:00.000Z');
    assert.equal(parseTime('2024-05-01T10:00:00+02:00', now), '2024-05-01T08:00:00.000Z');
    assert.equal(parseTime('2024-05-01', now), '2024-05-01T00:00:00.000Z');
  });

  it('refuses anything else as a usage error', () => {
    for (const bad of ['', '10', '10y', 'yesterday', '-5m', '2024-13-45', '5 minutes']) {
      assert.throws(() => parseTime(bad, now), InvalidArgumentError, bad);
    }
  });
});

describe('parsePortForward', () => {
  it('parses protocol, host port and guest port', () => {
    assert.deepEqual(parsePortForward('tcp:2222:22'), { protocol: 'tcp', hostPort: 2222, guestPort: 22 });
    assert.deepEqual(parsePortForward('udp:5353:53'), { protocol: 'udp', hostPort: 5353, guestPort: 53 });
    assert.deepEqual(parsePortForward('8080:80'), { protocol: 'tcp', hostPort: 8080, guestPort: 80 });
  });

  it('refuses bad protocols, ports and shapes', () => {
    for (const bad of ['sctp:1:2', 'tcp:0:22', 'tcp:2222:65536', 'tcp:22', 'tcp:a:22', 'tcp:1:2:3', '22', 'tcp::22', 'tcp:22.5:22']) {
      assert.throws(() => parsePortForward(bad), InvalidArgumentError, bad);
    }
  });

  it('accumulates repeated flags in order', () => {
    const first = collectPortForward('tcp:2222:22');
    assert.deepEqual(collectPortForward('udp:1:2', first), [
      { protocol: 'tcp', hostPort: 2222, guestPort: 22 },
      { protocol: 'udp', hostPort: 1, guestPort: 2 },
    ]);
  });
});

describe('integerIn and secondsToMs', () => {
  it('accepts whole numbers in range only', () => {
    const cpus = integerIn(1, 64);
    assert.equal(cpus('4'), 4);
    for (const bad of ['0', '65', '1.5', '-1', 'two', '']) assert.throws(() => cpus(bad), InvalidArgumentError, bad);
  });

  it('converts seconds to milliseconds', () => {
    assert.equal(secondsToMs('30'), 30_000);
    assert.equal(secondsToMs('0.5'), 500);
    for (const bad of ['-1', 'abc', '1e3']) assert.throws(() => secondsToMs(bad), InvalidArgumentError, bad);
  });
});

describe('wantsJson', () => {
  it('finds -o json in its spellings, but not after --', () => {
    assert.equal(wantsJson(['vm', 'list', '-o', 'json']), true);
    assert.equal(wantsJson(['vm', 'list', '-ojson']), true);
    assert.equal(wantsJson(['vm', 'list', '--output=json']), true);
    assert.equal(wantsJson(['vm', 'list', '--output', 'json']), true);
    assert.equal(wantsJson(['vm', 'list']), false);
    assert.equal(wantsJson(['vm', 'exec', 'web', '--', 'tool', '-o', 'json']), false);
  });
});

describe('defaultSnapshotName', () => {
  it('is a valid name made from the time', () => {
    const name = defaultSnapshotName(new Date('2024-05-01T10:30:05.123Z'));
    assert.equal(name, 'snap-20240501-103005');
    assert.match(name, /^[a-z][a-z0-9-]{0,62}$/);
  });
});

it('--network takes NAME or NAME,ip=A.B.C.D, repeatable in order', () => {
  assert.deepEqual(parseNetworkAttachment('blue'), { network: 'blue' });
  assert.deepEqual(parseNetworkAttachment('blue,ip=10.60.0.7'), { network: 'blue', address: '10.60.0.7' });
  assert.deepEqual(collectNetworkAttachment('red', [{ network: 'blue' }]), [{ network: 'blue' }, { network: 'red' }]);
  for (const bad of ['', ',ip=1.2.3.4', 'blue,mac=x', 'blue,ip=', 'blue,ip=1.2.3.4,x']) {
    assert.throws(() => parseNetworkAttachment(bad), InvalidArgumentError, bad);
  }
});

it('--network takes rate=RATE with a unit (bits, or Proxmox-style MB/s), in Mbit/s for the API', () => {
  assert.deepEqual(parseNetworkAttachment('blue,rate=8mbit'), { network: 'blue', rateLimitMbit: 8 });
  assert.deepEqual(parseNetworkAttachment('blue,rate=2MB/s,ip=10.60.0.7'), { network: 'blue', address: '10.60.0.7', rateLimitMbit: 16 });
  assert.deepEqual(parseNetworkAttachment('blue,ip=10.60.0.7,rate=500kbit'), { network: 'blue', address: '10.60.0.7', rateLimitMbit: 0.5 });
  for (const bad of ['blue,rate=10', 'blue,rate=', 'blue,rate=fast', 'blue,rate=1mbit,rate=2mbit', 'blue,rate=4kbit', 'blue,ip=1.2.3.4,ip=1.2.3.5']) {
    assert.throws(() => parseNetworkAttachment(bad), InvalidArgumentError, bad);
  }
  assert.throws(() => parseRateMbit('10'), /unit/);
});
