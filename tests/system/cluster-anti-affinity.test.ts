/**
 * Maintenance with anti-affinity on three testbed hosts (own network namespaces, one shared-storage
 * directory): two VMs of one anti-affinity group run on host1 and host2, a third VM on host1. The
 * dry run sends the group member on host1 to host3 (host2 already has the other member); entering
 * maintenance evacuates host1 live; polled all along, the two members never share a host; every
 * guest keeps running (its uptime grows). Then a new group member has nowhere to go:
 * PLACEMENT_IMPOSSIBLE with every host's reason, and nothing is created.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { useCluster } from '../helpers/cluster.js';

interface Vm {
  name: string;
  host: string | null;
  state: string;
}

const GROUP_VMS = ['aa-one', 'aa-two'];
const ALL_VMS = [...GROUP_VMS, 'aa-solo'];

describe('cluster maintenance keeps anti-affinity: three testbed hosts', () => {
  const cluster = useCluster('drv-caa-', 'aa-one');
  const { cli, testbedDir } = cluster;

  test('dry run sends the group member to host3; evacuation never puts two members on one host; guests keep running', { timeout: 900_000 }, async () => {
    const { drover } = cluster;
    const others: string[] = [];
    try {
      const up = await cli(['testbed', 'up', '--hosts', '3', '--storage', 'shared', '--dir', testbedDir, '-o', 'json']);
      assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
      // The controller's own local host does not reach the testbed's shared directory: keep it out of placement.
      const { hosts } = (await drover.api<{ hosts: { name: string }[] }>('GET', '/api/v1/hosts')).body;
      others.push(...hosts.map((h) => h.name).filter((name) => !/^host[123]$/.test(name)));
      for (const name of others) {
        const parked = await drover.api<{ operation: { id: string } }>('POST', `/api/v1/hosts/${name}/maintenance/enter`, { force: true });
        assert.equal(parked.status, 202, JSON.stringify(parked.body));
        assert.equal((await drover.waitOp(parked.body.operation.id)).state, 'succeeded');
      }

      const layout: Array<[string, string, string[]]> = [['aa-one', 'host1', ['ha']], ['aa-two', 'host2', ['ha']], ['aa-solo', 'host1', []]];
      for (const [name, host, groups] of layout) {
        const args = ['vm', 'create', name, '--image', 'tiny', '--memory', '128', '--host', host, '--pool', 'shared', '--start', '-o', 'json', ...groups.flatMap((g) => ['--anti-affinity-group', g])];
        const created = await cli(args, 300_000);
        assert.equal(created.code, 0, `${created.stdout}\n${created.stderr}`);
      }
      const uptimeBefore = new Map<string, number>();
      for (const name of ALL_VMS) {
        const ready = await drover.api<Vm>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: 300_000 });
        assert.equal(ready.status, 200, JSON.stringify(ready.body));
        uptimeBefore.set(name, await cluster.uptime(name));
      }
      const shown = JSON.parse((await cli(['vm', 'show', 'aa-one', '-o', 'json'])).stdout) as { placement: { antiAffinityGroups: string[] } };
      assert.deepEqual(shown.placement.antiAffinityGroups, ['ha']);

      const dryRun = await cli(['host', 'maintenance', 'enter', 'host1', '--dry-run', '-o', 'json']);
      assert.equal(dryRun.code, 0, dryRun.stderr);
      const plan = JSON.parse(dryRun.stdout) as { complete: boolean; moves: { vm: string; to: string }[] };
      const planned = new Map(plan.moves.map((m) => [m.vm, m.to]));
      assert.equal(plan.complete, true, dryRun.stdout);
      assert.equal(planned.get('aa-one'), 'host3', 'anti-affinity leaves host3 as the only place for aa-one');
      assert.ok(['host2', 'host3'].includes(planned.get('aa-solo') ?? ''), dryRun.stdout);

      // Poll where the group members are while the evacuation runs.
      let polling = true;
      const seen: string[][] = [];
      const poller = (async () => {
        while (polling) {
          const { vms } = (await drover.api<{ vms: Vm[] }>('GET', '/api/v1/vms')).body;
          const members = vms.filter((vm) => GROUP_VMS.includes(vm.name)).map((vm) => vm.host ?? '-');
          seen.push(members);
          await delay(200);
        }
      })();
      const entered = await cli(['host', 'maintenance', 'enter', 'host1', '-o', 'json'], 600_000);
      polling = false;
      await poller;
      assert.equal(entered.code, 0, `${entered.stdout}\n${entered.stderr}`);
      const outcome = JSON.parse(entered.stdout) as { moved: { vm: string; to: string }[]; failed: unknown[]; unmovable: unknown[] };
      assert.deepEqual([outcome.failed, outcome.unmovable], [[], []], entered.stdout);
      assert.deepEqual(outcome.moved.map((m) => m.vm).sort(), ['aa-one', 'aa-solo']);
      assert.ok(seen.length > 1, 'the poller saw the evacuation');
      for (const members of seen) assert.notEqual(members[0], members[1], `two anti-affinity members on one host: ${JSON.stringify(seen)}`);

      const { vms } = (await drover.api<{ vms: Vm[] }>('GET', '/api/v1/vms')).body;
      const where = new Map(vms.map((vm) => [vm.name, vm]));
      assert.equal(where.get('aa-one')?.host, 'host3');
      assert.equal(where.get('aa-two')?.host, 'host2');
      for (const name of ALL_VMS) {
        assert.equal(where.get(name)?.state, 'running', name);
        const after = await cluster.uptime(name);
        assert.ok(after > (uptimeBefore.get(name) ?? Infinity), `${name}: guest uptime went from ${uptimeBefore.get(name)} to ${after}; it must not restart`);
      }

      // host1 is in maintenance, host2 and host3 each hold a member: a third member has nowhere to go.
      const refused = await cli(['vm', 'create', 'aa-three', '--image', 'tiny', '--memory', '128', '--pool', 'shared', '--anti-affinity-group', 'ha', '-o', 'json']);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr + refused.stdout, /PLACEMENT_IMPOSSIBLE/);
      // Each of host2 and host3 holds a member, one of them also aa-solo (2 vCPUs on 2 CPUs): the first refusing filter is named.
      assert.match(refused.stderr + refused.stdout, /host2: (anti-affinity: group ha already has aa-two on this host|cpu: needs 1 vCPU)/);
      assert.match(refused.stderr + refused.stdout, /host3: (anti-affinity: group ha already has aa-one on this host|cpu: needs 1 vCPU)/);
      assert.match(refused.stderr + refused.stdout, /anti-affinity: group ha already has/);
      assert.match(refused.stderr + refused.stdout, /host1: maintenance/);
      assert.equal((await drover.api('GET', '/api/v1/vms/aa-three')).status, 404, 'nothing was created');
    } finally {
      for (const name of ALL_VMS.slice(1)) await drover.api('DELETE', `/api/v1/vms/${name}?force=true`).catch(() => undefined);
      for (const name of others) await drover.api('POST', `/api/v1/hosts/${name}/maintenance/exit`).catch(() => undefined);
    }
  });
});
