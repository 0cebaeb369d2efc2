import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { useAgent } from '../helpers/agent.js';
import { createVm, sh, shOk, startReady } from '../helpers/vm.js';

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state letter.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('resource limits hold', () => {
  const suite = useAgent();

  test('memory: the guest sees its limit and cannot use more', async () => {
    await createVm(suite.agent, { name: 'small', memoryMiB: 128, cpus: 2 });
    await startReady(suite.agent, 'small');
    const memTotalKiB = Number(/MemTotal:\s+(\d+)/.exec(await shOk(suite.agent, 'small', 'cat /proc/meminfo'))?.[1]);
    assert.ok(memTotalKiB <= 128 * 1024, `MemTotal ${memTotalKiB} KiB is within 128 MiB`);
    assert.ok(memTotalKiB > 64 * 1024, `MemTotal ${memTotalKiB} KiB is most of 128 MiB`);
    assert.equal((await shOk(suite.agent, 'small', 'grep -c ^processor /proc/cpuinfo')).trim(), '2');

    const fits = await sh(suite.agent, 'small', 'awk \'BEGIN { s = sprintf("%20000000s", ""); print length(s) }\'');
    assert.equal(fits.exitCode, 0, fits.stderr);
    assert.equal(fits.stdout.trim(), '20000000');
    const tooBig = await sh(suite.agent, 'small', 'awk \'BEGIN { s = sprintf("%400000000s", ""); print length(s) }\'', 120_000);
    assert.notEqual(tooBig.exitCode, 0, 'allocating 400 MB in a 128 MiB guest fails');
    assert.equal(await shOk(suite.agent, 'small', 'echo still-alive'), 'still-alive\n');
    await suite.agent.api('POST', '/api/v1/vms/small/kill');
  });

  test('CPU pinning: QEMU runs only on the host CPUs it was pinned to', async () => {
    await createVm(suite.agent, { name: 'pinned', cpuPinning: [1] });
    const vm = (await suite.agent.api<{ pid: number }>('POST', '/api/v1/vms/pinned/start')).body;
    const status = fs.readFileSync(`/proc/${vm.pid}/status`, 'utf8');
    assert.match(status, /^Cpus_allowed_list:\s+1$/m);
    await suite.agent.api('POST', '/api/v1/vms/pinned/kill');
  });

  test('disk I/O throttling: reads stay within 10% of the set rate', async () => {
    const rate = 4 * 1024 * 1024;
    await createVm(suite.agent, { name: 'slowdisk', diskThrottle: { bytesPerSecond: rate } });
    await startReady(suite.agent, 'slowdisk');
    const out = await shOk(
      suite.agent,
      'slowdisk',
      'sync; echo 3 > /proc/sys/vm/drop_caches; a=$(cut -d" " -f1 /proc/uptime); dd if=/dev/vda of=/dev/null bs=1M count=24 iflag=direct 2>/dev/null; b=$(cut -d" " -f1 /proc/uptime); echo "$a $b"',
      120_000,
    );
    const [start, end] = out.trim().split(' ').map(Number);
    const measured = (24 * 1024 * 1024) / ((end ?? 0) - (start ?? 0));
    assert.ok(Math.abs(measured - rate) / rate <= 0.1, `measured ${(measured / 1048576).toFixed(2)} MiB/s for a 4 MiB/s cap`);
    await suite.agent.api('POST', '/api/v1/vms/slowdisk/kill');
  });

  test('CPU cap: a busy guest uses no more than its share of the host', async () => {
    await createVm(suite.agent, { name: 'capped', cpuLimitPercent: 30 });
    const vm = await startReady(suite.agent, 'capped');
    await shOk(suite.agent, 'capped', '(while :; do :; done) >/dev/null 2>&1 & echo started');
    await sleep(1000);
    const t0 = cpuSeconds(vm.pid!);
    const w0 = Date.now();
    await sleep(5000);
    const share = (cpuSeconds(vm.pid!) - t0) / ((Date.now() - w0) / 1000);
    assert.ok(share <= 0.3 * 1.15, `QEMU used ${(share * 100).toFixed(0)}% of a core under a 30% cap`);
    assert.ok(share >= 0.15, `the busy guest did use its share (${(share * 100).toFixed(0)}%)`);
    await suite.agent.api('POST', '/api/v1/vms/capped/kill');
  });
});
