/**
 * Two controllers on one PostgreSQL (issue 13): two real host agents in this process, controllers A
 * and B as `drover controller` child processes on one database. The leader is killed with SIGKILL in
 * the middle of creates and a live migration, and the other takes over and settles what it left
 * (the record follows the guest to wherever the migration left it); then the new leader is
 * paused past its lease, the restarted A takes over, and the paused one steps down when it resumes.
 * Throughout, `drover_controller_leader` of every controller is sampled every 200 ms: never two at 1.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startAgent } from '../../src/agent/main.js';
import type { Agent } from '../../src/agent/app.js';
import type { HaStatus } from '../../src/controller/ha/service.js';
import { startLocalPostgres, type LocalPostgres } from '../../src/controller/store/postgres/local-server.js';
import { repoRoot } from '../../src/shared/paths.js';
import { cleanupDataDir, makeDataDir } from '../helpers/agent.js';
import { jsonApi, type ApiCall } from '../helpers/http.js';
import { qemuPidsUnder } from '../helpers/up.js';
import { eventually } from '../helpers/vm.js';

const LEASE_MS = 3_000;
const RENEW_MS = LEASE_MS / 5;
/** Process scheduling, the polling step and PostgreSQL on a shared 2-core machine. */
const SLACK_MS = 1_000;

interface Vm {
  name: string;
  state: string;
  host: string | null;
}
interface Operation {
  id: string;
  state: string;
  error: { code: string; detail?: string } | null;
}
interface ControllerList {
  controllers: Array<{ id?: string; name?: string; state: string; leader: boolean }>;
  leader: { id: string; name: string | null; token: number; expired: boolean } | null;
}
interface DroverEvent {
  action: string;
  object: { type: string; id: string | null; name: string | null };
  detail: { token?: number; previous?: { holder: string; token: number } | null };
}

/** A `drover controller` child process of this test. */
interface ControllerProcess {
  name: string;
  id: string;
  url: string;
  /** What it printed on start: true when it started as the leader. */
  startedLeading: boolean;
  child: ChildProcess;
  output: () => string;
}

/** Starts `drover controller` from source and waits for its banner; its id is the one it keeps in dataDir. */
async function startControllerProcess(name: string, store: string, dataDir: string): Promise<ControllerProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), 'controller', '--store', store, '--port', '0', '--name', name, '--lease-ms', String(LEASE_MS), '--data-dir', dataDir],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DROVER_CONTROLLER_URLS: '' } },
  );
  let output = '';
  const banner = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`controller ${name} did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-20_000);
      const match = /Drover controller listening on (http:\/\/\S+) \(store: (\w+)\); (the leader|standing by)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`controller ${name} exited (${code ?? signal}):\n${output}`));
    });
  });
  assert.equal(banner[2], 'postgresql');
  const id = fs.readFileSync(path.join(dataDir, 'controller.id'), 'utf8').trim();
  // The banner's URL is the controller's; the regex matched, so the groups are there.
  return { name, id, url: banner[1] as string, startedLeading: banner[3] === 'the leader', child, output: () => output };
}

/** Kills a child with `signal` and waits until it has exited (a stopped one is continued first, so that it can die). */
async function killProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  child.kill('SIGCONT');
  await exited;
}

/** Its `drover_controller_leader` gauge, or null when it does not answer within `timeoutMs`. */
async function leaderGauge(url: string, token: string, timeoutMs = 1_000): Promise<0 | 1 | null> {
  try {
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(timeoutMs) });
    const value = /^drover_controller_leader (\d)$/m.exec(await res.text())?.[1];
    return value === '1' ? 1 : value === '0' ? 0 : null;
  } catch {
    return null;
  }
}

/** Polls `check` every `stepMs` until true; the time it took, or throws after `timeoutMs`. */
async function timeUntil(check: () => Promise<boolean>, timeoutMs: number, stepMs = 50): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
  return Date.now() - started;
}

describe('two controllers on one PostgreSQL', () => {
  const dirs = { a: makeDataDir(), b: makeDataDir() };
  const sharedDir = makeDataDir();
  /** The hosts: an agent each, in this process. */
  const hosts: Array<{ name: string; dir: string; agent: Agent; url: string; api: ApiCall }> = [];
  const started: ControllerProcess[] = [];
  let postgres: LocalPostgres;
  let storeUrl: string;
  let adminToken: string;
  let a: ControllerProcess;
  let b: ControllerProcess;
  const api = (controller: ControllerProcess): ApiCall => jsonApi(controller.url, adminToken);
  const figures: Record<string, number> = {};

  /** Every 200 ms, the gauge of every controller started so far that has not exited. */
  const samples: Array<{ at: number; gauges: Record<string, 0 | 1 | null> }> = [];
  let sampling = true;
  let sampler: Promise<void> | undefined;
  const sample = async (): Promise<void> => {
    while (sampling) {
      const live = started.filter((c) => c.child.exitCode === null && c.child.signalCode === null);
      const at = Date.now();
      const values = await Promise.all(live.map((c) => leaderGauge(c.url, adminToken, 500)));
      samples.push({ at, gauges: Object.fromEntries(live.map((c, i) => [`${c.name}@${c.child.pid}`, values[i] ?? null])) });
      await sleep(Math.max(0, 200 - (Date.now() - at)));
    }
  };

  before(async () => {
    postgres = await startLocalPostgres();
    storeUrl = await postgres.createDatabase();
    for (const name of ['h1', 'h2']) {
      const dir = makeDataDir();
      // One shared pool: the balancer moves only guests on shared storage.
      const { agent, url } = await startAgent({ dataDir: dir, listen: '127.0.0.1:0', logger: false, sharedStorageDir: sharedDir });
      hosts.push({ name, dir, agent, url, api: jsonApi(url, agent.token) });
    }
    a = await startControllerProcess('ctl-a', storeUrl, dirs.a);
    started.push(a);
    // The first controller on an empty store writes the admin token; the second gets none and shares it.
    adminToken = fs.readFileSync(path.join(dirs.a, 'admin.token'), 'utf8').trim();
    b = await startControllerProcess('ctl-b', storeUrl, dirs.b);
    started.push(b);
    assert.equal(fs.existsSync(path.join(dirs.b, 'admin.token')), false, 'the second controller writes no admin token of its own');
    sampler = sample();
  });

  after(async () => {
    sampling = false;
    await sampler;
    for (const controller of started) await killProcess(controller.child);
    for (const host of hosts) {
      const vms = (await host.api<Array<{ name: string }>>('GET', '/api/v1/vms').catch(() => undefined))?.body ?? [];
      for (const vm of Array.isArray(vms) ? vms : []) await host.api('DELETE', `/api/v1/vms/${vm.name}?force=true`).catch(() => undefined);
      await host.agent.app.close();
      await cleanupDataDir(host.dir);
    }
    await postgres?.stop();
    for (const dir of [dirs.a, dirs.b, sharedDir]) fs.rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`# two-controller figures: ${JSON.stringify(figures)}\n`);
  });

  test('A leads, B stands by: in their banners, the cluster controllers list and the leader gauge', async () => {
    assert.equal(a.startedLeading, true, a.output());
    assert.equal(b.startedLeading, false, b.output());
    for (const controller of [a, b]) {
      const list = (await api(controller)<ControllerList>('GET', '/api/v1/cluster/controllers')).body;
      assert.equal(list.leader?.id, a.id, JSON.stringify(list));
      assert.equal(list.leader?.token, 1);
      assert.deepEqual(
        list.controllers.map((c) => [c.name, c.state, c.leader]).sort(),
        [['ctl-a', 'up', true], ['ctl-b', 'up', false]],
      );
    }
    assert.equal(await leaderGauge(a.url, adminToken), 1);
    assert.equal(await leaderGauge(b.url, adminToken), 0);

    // The hosts join through A; B serves the same cluster, so it sees them at once.
    for (const host of hosts) {
      const join = await api(a)<{ token: string }>('POST', '/api/v1/hosts/join-tokens', {});
      assert.equal(join.status, 201, JSON.stringify(join.body));
      const joined = await jsonApi(a.url, join.body.token)<{ name: string; health: string }>('POST', '/api/v1/hosts/join', {
        name: host.name,
        address: host.url,
        agentToken: host.agent.token,
        // A handful of small guests on a 2-core machine; they only boot.
        cpuOvercommit: 4,
      });
      assert.equal(joined.status, 201, JSON.stringify(joined.body));
    }
    const listed = (await api(b)<{ hosts: Array<{ name: string; health: string }> }>('GET', '/api/v1/hosts')).body.hosts;
    assert.deepEqual(listed.map((h) => [h.name, h.health]).sort(), [['h1', 'healthy'], ['h2', 'healthy']]);
    // HA judges hosts on the leader, in memory (these agents renew no lease, so it finds them suspect); B has judged
    // nothing itself and answers `ha status` with the leader's verdicts.
    await eventually(async () => {
      const [fromA, fromB] = await Promise.all([a, b].map((controller) => api(controller)<HaStatus>('GET', '/api/v1/ha/status')));
      assert.equal(fromB?.status, 200, JSON.stringify(fromB?.body));
      const verdicts = (status: HaStatus | undefined) => (status?.hosts ?? []).map((h) => [h.name, h.liveness]).sort();
      assert.deepEqual(verdicts(fromB?.body), [['h1', 'suspect'], ['h2', 'suspect']], JSON.stringify(fromB?.body.hosts));
      assert.deepEqual(verdicts(fromB?.body), verdicts(fromA?.body));
    }, 20_000);

    // The guests the leader will be moving when it is killed: one by a migration, one by a balance run; both on h1, on shared storage.
    for (const name of ['mover', 'weight']) {
      const created = await api(a)<{ operation: Operation }>('POST', '/api/v1/vms', { name, image: 'tiny', host: 'h1', pool: 'shared', start: true });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const op = await eventually(async () => {
        const now = (await api(a)<Operation>('GET', `/api/v1/operations/${created.body.operation.id}?wait=10`)).body;
        assert.ok(now.state !== 'queued' && now.state !== 'running', now.state);
        return now;
      }, 60_000);
      assert.equal(op.state, 'succeeded', JSON.stringify(op));
    }
  });

  test('kill -9 of the leader in the middle of creates, a live migration and a balance run: B takes over within the lease and settles every operation and VM A left', async (t) => {
    // A balance run: with both guests on h1 and h2 empty, its plan moves one of them to h2.
    const balance = await api(a)<{ plan: { moves: Array<{ vm: string; to: string }> }; operation: Operation }>('POST', '/api/v1/balance', { threshold: 0 });
    assert.equal(balance.status, 202, JSON.stringify(balance.body));
    const balanced = balance.body.plan.moves.map((m) => m.vm);
    assert.equal(balanced.length, 1, JSON.stringify(balance.body.plan));
    // The other one by a migration of its own, until the source agent is copying: the kill must find it under way.
    const moved = balanced[0] === 'mover' ? 'weight' : 'mover';
    const migrate = await api(a)<{ operation: Operation }>('POST', `/api/v1/vms/${moved}/migrate`, { to: 'h2' });
    assert.equal(migrate.status, 202, JSON.stringify(migrate.body));
    const migrating = await eventually(async () => {
      const op = (await api(a)<Operation & { message: string }>('GET', `/api/v1/operations/${migrate.body.operation.id}`)).body;
      assert.match(op.message, /: pass \d|^done$/, JSON.stringify(op));
      return op;
    }, 30_000, 50);
    const guests = [
      { name: 'vm1', image: 'tiny', start: true },
      { name: 'vm2', image: 'tiny', start: true },
      { name: 'vm3', image: 'tiny' },
      { name: 'ct1', type: 'container', image: 'tiny-ct', start: true },
      { name: 'ct2', type: 'container', image: 'tiny-ct', start: true },
    ];
    const accepted = await Promise.all(guests.map((body) => api(a)<{ operation: Operation }>('POST', '/api/v1/vms', body)));
    for (const res of accepted) assert.equal(res.status, 202, JSON.stringify(res.body));
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    const operationIds = [migrate.body.operation.id, balance.body.operation.id, ...accepted.map((res) => res.body.operation.id)];

    // What A left unfinished, as B reads the store right after the kill.
    const left = await Promise.all(operationIds.map(async (id) => (await api(b)<Operation>('GET', `/api/v1/operations/${id}`)).body));
    const interrupted = left.filter((op) => op.state === 'queued' || op.state === 'running').map((op) => op.id);
    assert.ok(interrupted.length > 0, `A was killed with work in flight: ${JSON.stringify(left.map((op) => op.state))}`);
    t.diagnostic(`the migration was ${left[0]?.state} at the kill (${migrating.message})`);
    const db = new pg.Client({ connectionString: storeUrl });
    await db.connect();
    try {
      const owners = (await db.query<{ id: string; owner: string | null }>('SELECT id, owner FROM operations WHERE id = ANY($1)', [operationIds])).rows;
      assert.deepEqual(owners.map((r) => r.owner), operationIds.map(() => a.id), 'each is an operation owned by A');
    } finally {
      await db.end();
    }

    const takeoverMs = await timeUntil(async () => (await leaderGauge(b.url, adminToken)) === 1, LEASE_MS + 2 * RENEW_MS + 5_000);
    figures.killTakeoverMs = Date.now() - killedAt;
    t.diagnostic(`B took over ${figures.killTakeoverMs} ms after A was killed (lease ${LEASE_MS} ms, renewal ${RENEW_MS} ms)`);
    assert.ok(takeoverMs >= 0);
    assert.ok(figures.killTakeoverMs < LEASE_MS + 2 * RENEW_MS + SLACK_MS, `takeover in ${figures.killTakeoverMs} ms`);
    const list = (await api(b)<ControllerList>('GET', '/api/v1/cluster/controllers')).body;
    assert.deepEqual([list.leader?.id, list.leader?.token], [b.id, 2], JSON.stringify(list));

    // Every operation A owned ends: succeeded, or failed as interrupted; none stays queued or running.
    const ended = await eventually(async () => {
      const ops = await Promise.all(operationIds.map(async (id) => (await api(b)<Operation>('GET', `/api/v1/operations/${id}`)).body));
      for (const op of ops) assert.ok(op.state === 'succeeded' || op.state === 'failed', `${op.id} is ${op.state}`);
      return ops;
    }, 30_000);
    figures.settledMs = Date.now() - killedAt;
    // B judged A dead to take its operations; the cluster controllers list says so by the same rule (lease and a renewal).
    const afterRecovery = (await api(b)<ControllerList>('GET', '/api/v1/cluster/controllers')).body;
    assert.deepEqual(afterRecovery.controllers.map((c) => [c.name, c.state, c.leader]).sort(), [['ctl-a', 'down', false], ['ctl-b', 'up', true]], JSON.stringify(afterRecovery));
    for (const op of ended) {
      if (op.state === 'failed') assert.equal(op.error?.code, 'OPERATION_INTERRUPTED', JSON.stringify(op));
    }
    const count = (state: string): number => ended.filter((op) => op.state === state).length;
    t.diagnostic(`A's ${ended.length} operations (a migration, a balance run, five creates): ${interrupted.length} in flight at the kill; ${count('succeeded')} succeeded, ${count('failed')} failed OPERATION_INTERRUPTED; all ended ${figures.settledMs} ms after the kill`);

    // Every VM record settles, each guest is on one host only, and the records say which and in what state.
    const settled = await eventually(async () => {
      const records = (await api(b)<{ vms: Vm[] }>('GET', '/api/v1/vms')).body.vms;
      const onHosts = (await Promise.all(hosts.map(async (host) => (await host.api<Array<{ name: string; state: string }>>('GET', '/api/v1/vms')).body.map((v) => ({ ...v, host: host.name }))))).flat();
      for (const vm of records) assert.ok(vm.state !== 'creating' && vm.state !== 'deleting', `${vm.name} is still ${vm.state}`);
      assert.deepEqual(onHosts.map((v) => v.name).sort(), records.map((v) => v.name).sort(), 'the hosts have exactly the VMs the store records, each once');
      for (const vm of records) {
        const actual = onHosts.find((v) => v.name === vm.name);
        assert.deepEqual([vm.name, vm.host, vm.state], [vm.name, actual?.host, actual?.state], `${vm.name}: record and host agree`);
      }
      return { records, onHosts };
    }, 30_000, 500);
    figures.vmsSettledMs = Date.now() - killedAt;
    // Whatever A started on its own (the balance run's migration) has ended too: nothing of A's is left running.
    for (const state of ['queued', 'running']) {
      const open = (await api(b)<{ operations: Operation[] }>('GET', `/api/v1/operations?state=${state}`)).body.operations;
      assert.deepEqual(open.map((op) => op.id), [], `${state}: ${JSON.stringify(open)}`);
    }
    // One QEMU per VM a host says runs (containers run under runc, not QEMU).
    for (const host of hosts) {
      const running = settled.onHosts.filter((v) => v.host === host.name && v.state === 'running' && !v.name.startsWith('ct')).length;
      assert.equal(qemuPidsUnder(host.dir).length, running, `${host.name}: one QEMU for each running VM, no stray one`);
    }
    const place = (name: string | undefined) => settled.records.find((v) => v.name === name)?.host;
    t.diagnostic(`after recovery: ${settled.records.map((v) => `${v.name} ${v.state} on ${v.host}`).join(', ')}; removed: ${guests.filter((g) => !settled.records.some((v) => v.name === g.name)).map((g) => g.name).join(', ') || 'none'}; ${moved} (migrated) on ${place(moved)}, ${balanced[0]} (balanced) on ${place(balanced[0])}`);
  });

  test('a paused leader: the restarted A takes over, and B steps down when it resumes', async (t) => {
    // A comes back on its data dir (the same controller id) while B leads: it stands by.
    a = await startControllerProcess('ctl-a', storeUrl, dirs.a);
    started.push(a);
    assert.equal(a.startedLeading, false, a.output());
    assert.equal(await leaderGauge(a.url, adminToken), 0);

    process.kill(b.child.pid as number, 'SIGSTOP');
    const pausedAt = Date.now();
    try {
      await timeUntil(async () => (await leaderGauge(a.url, adminToken)) === 1, LEASE_MS + 2 * RENEW_MS + 5_000);
      figures.pauseTakeoverMs = Date.now() - pausedAt;
      t.diagnostic(`A took over ${figures.pauseTakeoverMs} ms after B was paused`);
      assert.ok(figures.pauseTakeoverMs < LEASE_MS + 2 * RENEW_MS + SLACK_MS, `takeover in ${figures.pauseTakeoverMs} ms`);
      // B stays paused a little past A's election, as a long GC pause or a frozen VM would.
      await sleep(RENEW_MS);
    } finally {
      process.kill(b.child.pid as number, 'SIGCONT');
    }
    const resumedAt = Date.now();
    // Its own clock tells B its term is over, before any renewal round: its gauge reads 0 at once.
    const stepDownMs = await timeUntil(async () => (await leaderGauge(b.url, adminToken, 5_000)) === 0, 10_000);
    figures.stepDownMs = Date.now() - resumedAt;
    t.diagnostic(`B answered 0 ${figures.stepDownMs} ms after it resumed`);
    assert.ok(stepDownMs >= 0);
    for (const controller of [a, b]) {
      const list = await eventually(async () => {
        const body = (await api(controller)<ControllerList>('GET', '/api/v1/cluster/controllers')).body;
        assert.deepEqual([body.leader?.id, body.leader?.token, body.leader?.expired], [a.id, 3, false], JSON.stringify(body));
        return body;
      }, 5_000);
      assert.deepEqual(list.controllers.filter((c) => c.leader).map((c) => c.id), [a.id], `one leader as ${controller.name} sees it`);
    }
    // A while later B is still standing by, and A still leads: B did not take the lease back.
    await sleep(2 * RENEW_MS);
    assert.deepEqual([await leaderGauge(a.url, adminToken), await leaderGauge(b.url, adminToken)], [1, 0]);
  });

  test('the leader-elected events record each change, with the fencing token growing by one', async () => {
    const events = (await api(a)<{ events: DroverEvent[] }>('GET', '/api/v1/events?actor=system&order=asc&limit=1000')).body.events;
    const elected = events.filter((e) => e.action === 'controller.leader-elected');
    assert.deepEqual(
      elected.map((e) => [e.object.type, e.object.id, e.detail.token, e.detail.previous?.holder ?? null, e.detail.previous?.token ?? null]),
      [
        ['controller', a.id, 1, null, null],
        ['controller', b.id, 2, a.id, 1],
        ['controller', a.id, 3, b.id, 2],
      ],
    );
  });

  test('never two leaders: at no sample did two controllers that answered both report drover_controller_leader 1', () => {
    assert.ok(samples.length > 50, `${samples.length} samples`);
    const both = samples.filter((s) => Object.values(s.gauges).filter((g) => g === 1).length > 1);
    assert.deepEqual(both, []);
    // The sampler saw each leader: A, then B, then the restarted A.
    const leaders = samples.map((s) => Object.entries(s.gauges).find(([, g]) => g === 1)?.[0]).filter((name): name is string => name !== undefined);
    const changes = leaders.filter((name, i) => i === 0 || leaders[i - 1] !== name);
    assert.deepEqual(changes.map((name) => name.split('@')[0]), ['ctl-a', 'ctl-b', 'ctl-a'], JSON.stringify(changes));
    figures.samples = samples.length;
  });
});
