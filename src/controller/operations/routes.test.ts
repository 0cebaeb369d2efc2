import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController } from '../api/testing.js';

const admin = { name: 'admin' };

test('operations can be listed, filtered, fetched, waited for and cancelled over the API', async (t) => {
  const { app, auth, services, close } = await testController();
  t.after(close);
  const runner = services.operations;
  let inStep!: () => void;
  const stepStarted = new Promise<void>((resolve) => (inStep = resolve));
  const quick = await runner.start({ kind: 'start', target: { type: 'vm', id: 'vm-1', name: 'web' }, actor: admin, work: async () => ({ pid: 42 }) });
  const slow = await runner.start({
    kind: 'clone',
    target: { type: 'vm', id: 'vm-2' },
    actor: admin,
    work: [
      {
        name: 'copy disk',
        run: (ctx) =>
          new Promise((_resolve, reject) => {
            inStep();
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
          }),
      },
    ],
  });

  const waited = await app.inject({ method: 'GET', url: `/api/v1/operations/${quick.id}?wait=5`, headers: auth });
  assert.equal(waited.statusCode, 200);
  assert.deepEqual(
    (({ state, progress, result, target, kind }) => ({ state, progress, result, target, kind }))(waited.json()),
    { state: 'succeeded', progress: 1, result: { pid: 42 }, target: { type: 'vm', id: 'vm-1', name: 'web' }, kind: 'start' },
  );

  const list = async (query: string) =>
    (await app.inject({ method: 'GET', url: `/api/v1/operations?${query}`, headers: auth })).json().operations.map((op: { id: string }) => op.id);
  assert.deepEqual(await list(''), [slow.id, quick.id]);
  assert.deepEqual(await list('state=succeeded'), [quick.id]);
  assert.deepEqual(await list('targetType=vm&targetId=vm-2'), [slow.id]);
  assert.deepEqual(await list('limit=1'), [slow.id]);

  await stepStarted;
  const cancelled = await app.inject({ method: 'POST', url: `/api/v1/operations/${slow.id}/cancel`, headers: auth });
  assert.equal(cancelled.statusCode, 202);
  assert.equal(cancelled.json().cancelRequested, true);
  const final = (await app.inject({ method: 'GET', url: `/api/v1/operations/${slow.id}?wait=5`, headers: auth })).json();
  assert.equal(final.state, 'cancelled');
  assert.deepEqual(final.steps, [{ name: 'copy disk', state: 'failed', error: 'OPERATION_CANCELLED: cancelled by admin' }]);

  const again = await app.inject({ method: 'POST', url: `/api/v1/operations/${slow.id}/cancel`, headers: auth });
  assert.equal(again.statusCode, 409);
  assert.equal(again.json().code, 'OPERATION_FINISHED');
  const missing = await app.inject({ method: 'GET', url: '/api/v1/operations/nope', headers: auth });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().code, 'OPERATION_NOT_FOUND');
});
