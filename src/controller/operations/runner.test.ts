import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { DroverError, isDroverError } from '../../shared/errors.js';
import { EventLog } from '../events/event-log.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { OperationRunner } from './runner.js';
import type { OperationStep } from './work.js';

const admin = { name: 'admin' };
const target = { type: 'vm', id: 'vm-1', name: 'web' };

function setup(store: Store = SqliteStore.open(':memory:')) {
  const events = new EventLog(store);
  const runner = new OperationRunner({ store, events, logger: pino({ level: 'silent' }) });
  return { store, events, runner };
}

/** A step that logs its run and undo into `log`. */
function step(name: string, log: string[], run?: () => Promise<unknown>): OperationStep {
  return {
    name,
    run: async () => {
      log.push(`run ${name}`);
      await run?.();
      return { finished: name };
    },
    undo: async () => void log.push(`undo ${name}`),
  };
}

/** A promise and the function that settles it, for steps that wait on the test. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

test('an operation returns queued at once, then runs its steps to success', async () => {
  const { runner, events } = setup();
  const log: string[] = [];
  const op = await runner.start({ kind: 'start', target, actor: admin, work: [step('a', log), step('b', log)] });
  assert.equal(op.state, 'queued');
  assert.deepEqual(log, []);
  const done = await runner.wait(op.id, 5000);
  assert.equal(done.state, 'succeeded');
  assert.equal(done.progress, 1);
  assert.deepEqual(done.result, { finished: 'b' });
  assert.deepEqual(done.steps.map((s) => s.state), ['done', 'done']);
  assert.deepEqual(log, ['run a', 'run b']);
  const history = await events.query({ vm: 'web', order: 'asc' });
  assert.deepEqual(history.map((e) => [e.action, e.result, e.actor]), [
    ['vm.start', 'queued', 'admin'],
    ['vm.start', 'running', 'admin'],
    ['vm.start', 'succeeded', 'admin'],
  ]);
});

test('a failing step undoes the completed steps in reverse and records the error', async () => {
  const { runner } = setup();
  const log: string[] = [];
  const boom = step('c', log, async () => {
    throw new DroverError('VM_START_FAILED', 'qemu exited 1');
  });
  const op = await runner.start({ kind: 'create', target, actor: admin, work: [step('a', log), step('b', log), boom] });
  const done = await runner.wait(op.id, 5000);
  assert.equal(done.state, 'failed');
  assert.deepEqual(log, ['run a', 'run b', 'run c', 'undo b', 'undo a']);
  assert.equal(done.error?.code, 'VM_START_FAILED');
  assert.equal(done.error?.detail, 'qemu exited 1');
  assert.deepEqual(done.steps.map((s) => s.state), ['undone', 'undone', 'failed']);
});

test('an undo that fails leaves a named ROLLBACK_INCOMPLETE state, and the other undos still run', async () => {
  const { runner } = setup();
  const log: string[] = [];
  const stuck: OperationStep = { ...step('b', log), undo: async () => Promise.reject(new Error('disk busy')) };
  const boom = step('c', log, async () => Promise.reject(new Error('no')));
  const op = await runner.start({ kind: 'clone', target, actor: admin, work: [step('a', log), stuck, boom] });
  const done = await runner.wait(op.id, 5000);
  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'ROLLBACK_INCOMPLETE');
  assert.deepEqual(done.error?.undoFailures, [{ step: 'b', message: 'disk busy' }]);
  assert.match(done.error?.detail ?? '', /INTERNAL: no; still applied: b \(disk busy\)/);
  assert.deepEqual(done.steps.map((s) => s.state), ['undone', 'undo-failed', 'failed']);
  assert.deepEqual(log, ['run a', 'run b', 'run c', 'undo a']);
});

test('a function operation registers undos as it goes and they run in reverse on failure', async () => {
  const { runner } = setup();
  const log: string[] = [];
  const op = await runner.start({
    kind: 'import',
    target: { type: 'image', id: 'img-1' },
    actor: admin,
    work: async (ctx) => {
      ctx.onUndo('copy', async () => void log.push('undo copy'));
      await ctx.progress(0.5, 'converting');
      ctx.onUndo('convert', async () => void log.push('undo convert'));
      throw new DroverError('IMAGE_CORRUPT', 'bad header');
    },
  });
  const done = await runner.wait(op.id, 5000);
  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'IMAGE_CORRUPT');
  assert.deepEqual(log, ['undo convert', 'undo copy']);
  assert.deepEqual(done.steps, [
    { name: 'copy', state: 'undone' },
    { name: 'convert', state: 'undone' },
  ]);
});

test('cancel aborts the running step, undoes done steps and ends cancelled; cancelling again is OPERATION_FINISHED', async () => {
  const { runner, events } = setup();
  const log: string[] = [];
  const started = gate();
  const waitForCancel: OperationStep = {
    name: 'wait',
    run: (ctx) =>
      new Promise((_resolve, reject) => {
        started.open();
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
      }),
  };
  const op = await runner.start({ kind: 'snapshot', target, actor: admin, work: [step('a', log), waitForCancel, step('never', log)] });
  await started.opened;
  const cancelling = await runner.cancel(op.id, { name: 'ops' });
  assert.equal(cancelling.cancelRequested, true);
  const done = await runner.wait(op.id, 5000);
  assert.equal(done.state, 'cancelled');
  assert.equal(done.error?.code, 'OPERATION_CANCELLED');
  assert.equal(done.error?.detail, 'cancelled by ops');
  assert.deepEqual(log, ['run a', 'undo a']);
  await assert.rejects(runner.cancel(op.id, admin), (err) => isDroverError(err, 'OPERATION_FINISHED') && err.status === 409);
  await assert.rejects(runner.cancel('no-such-id', admin), (err) => isDroverError(err, 'OPERATION_NOT_FOUND'));
  const results = (await events.query({ vm: 'vm-1', order: 'asc' })).map((e) => `${e.actor}:${e.result}`);
  assert.deepEqual(results, ['admin:queued', 'admin:running', 'ops:cancel-requested', 'admin:cancelled']);
});

test('a busy target refuses a second operation with the given code until the first ends', async () => {
  const { runner, store } = setup();
  const hold = gate();
  const first = await runner.start({ kind: 'stop', target, actor: admin, busyError: 'VM_BUSY', work: async () => hold.opened });
  await assert.rejects(
    runner.start({ kind: 'start', target, actor: admin, busyError: 'VM_BUSY', work: async () => undefined }),
    (err) => isDroverError(err, 'VM_BUSY') && /stop/.test(err.detail ?? ''),
  );
  assert.equal((await store.operations.list({ limit: 10 })).length, 1);
  hold.open();
  await runner.wait(first.id, 5000);
  const second = await runner.start({ kind: 'start', target, actor: admin, busyError: 'VM_BUSY', work: async () => undefined });
  assert.equal((await runner.wait(second.id, 5000)).state, 'succeeded');
});

test('an operation created in a caller transaction runs only if that transaction commits', async () => {
  const { runner, store } = setup();
  let ran = 0;
  const work = async () => void ran++;
  await assert.rejects(
    store.transaction(async (tx) => {
      await runner.start({ kind: 'delete', target, actor: admin, work, tx });
      throw new Error('validation failed later');
    }),
  );
  assert.deepEqual(await store.operations.list({ limit: 10 }), []);
  const op = await store.transaction((tx) => runner.start({ kind: 'delete', target, actor: admin, work, tx }));
  assert.equal((await runner.wait(op.id, 5000)).state, 'succeeded');
  assert.equal(ran, 1);
});

test('wait returns the operation as it is when the timeout passes first', async () => {
  const { runner } = setup();
  const hold = gate();
  const op = await runner.start({ kind: 'start', target, actor: admin, work: async () => hold.opened });
  const early = await runner.wait(op.id, 20);
  assert.equal(early.state, 'running');
  hold.open();
  assert.equal((await runner.wait(op.id, 5000)).state, 'succeeded');
  await assert.rejects(runner.wait('missing', 10), (err) => isDroverError(err, 'OPERATION_NOT_FOUND'));
});

test('after a restart, interrupted operations are failed with the reason, or resumed when their kind can be', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-ops-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'controller.db');
  const before = setup(SqliteStore.open(file));
  const hang = gate();
  const inStep = gate();
  const hanging: OperationStep = { name: 'boot', run: async () => (inStep.open(), hang.opened) };
  const interrupted = await before.runner.start({ kind: 'start', target, actor: admin, work: [step('prepare', []), hanging] });
  const inMigrate = gate();
  const migrate = async () => (inMigrate.open(), hang.opened);
  const resumable = await before.runner.start({ kind: 'migrate', target: { type: 'vm', id: 'vm-2' }, actor: admin, work: migrate });
  await Promise.all([inStep.opened, inMigrate.opened]);
  // The "crash": the first process stops touching the file; its runner never finishes.
  await before.store.close();

  const after = setup(SqliteStore.open(file));
  after.runner.registerResumer('migrate', (op) => async () => ({ resumedFrom: op.state }));
  const outcome = await after.runner.resolveInterrupted();
  assert.deepEqual(outcome, { resumed: [resumable.id], failed: [interrupted.id] });

  const failed = await after.runner.get(interrupted.id);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error?.code, 'OPERATION_INTERRUPTED');
  assert.match(failed.error?.detail ?? '', /controller restarted while the operation was running; done and not undone: prepare; was running: boot/);
  assert.deepEqual(failed.steps.map((s) => s.state), ['done', 'failed']);
  const resumed = await after.runner.wait(resumable.id, 5000);
  assert.equal(resumed.state, 'succeeded');
  assert.deepEqual(resumed.result, { resumedFrom: 'running' });
  assert.deepEqual(await after.store.operations.list({ states: ['queued', 'running'], limit: 10 }), []);
  const systemEvents = await after.events.query({ actor: 'system' });
  assert.equal(systemEvents[0]?.result, 'failed');
  hang.open();
  await after.store.close();
});

test('shutdown cancels what is still running after the grace period and rolls it back', async () => {
  const { runner } = setup();
  const log: string[] = [];
  const forever: OperationStep = {
    name: 'forever',
    run: (ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
  };
  const op = await runner.start({ kind: 'clone', target, actor: admin, work: [step('copy', log), forever] });
  await runner.shutdown(50);
  const done = await runner.get(op.id);
  assert.equal(done.state, 'cancelled');
  assert.equal(done.error?.detail, 'the controller is shutting down');
  assert.deepEqual(log, ['run copy', 'undo copy']);
});

test('a controller judged dead while it was only paused: the leader\'s verdict on its operation stands when it resumes', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-runner-'));
  const file = path.join(dir, 'controller.db');
  const paused = setup(SqliteStore.open(file));
  const leader = setup(SqliteStore.open(file));
  try {
    const log: string[] = [];
    const { open, opened } = gate();
    const op = await paused.runner.start({ kind: 'start', target, actor: admin, work: [step('a', log, () => opened)] });
    while ((await paused.store.operations.get(op.id))?.state !== 'running') await new Promise((resolve) => setTimeout(resolve, 10));
    // The leader takes it for a dead controller's, and ends it.
    assert.deepEqual(await leader.runner.resolveInterrupted(), { resumed: [], failed: [op.id] });
    open();
    const after = await paused.runner.wait(op.id, 5000);
    assert.equal(after.state, 'failed');
    assert.equal(after.error?.code, 'OPERATION_INTERRUPTED');
    const history = (await paused.events.query({ vm: 'web', order: 'asc' })).map((e) => e.result);
    assert.deepEqual(history, ['queued', 'running', 'failed'], 'one end only: no success recorded after the failure');
  } finally {
    await paused.store.close();
    await leader.store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
