import { test } from 'node:test';
import assert from 'node:assert/strict';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import { WebSocket } from 'ws';
import type { ConsoleConnection } from '../drivers/types.js';
import { isDroverError } from '../shared/errors.js';
import type { HostVmService } from './host-vms.js';
import { startGeneration, vmRoutes } from './routes.js';

test('a start carries an HA generation or nothing; anything else is refused with a coded error', () => {
  assert.equal(startGeneration(undefined), undefined);
  assert.equal(startGeneration(null), undefined);
  assert.equal(startGeneration({}), undefined);
  assert.equal(startGeneration({ generation: 7 }), 7);
  for (const bad of [{ generation: 0 }, { generation: 1.5 }, { generation: '2' }, { other: 1 }, [], 'x']) {
    assert.throws(() => startGeneration(bad), (err) => isDroverError(err, 'INVALID_ARGUMENT'), JSON.stringify(bad));
  }
});

test('the console keeps what is typed while it is being attached, and writes it once attached', async (t) => {
  const written: string[] = [];
  let attached!: () => void;
  const attaching = new Promise<void>((resolve) => (attached = resolve));
  // A stand-in host VM service whose driver takes its time to attach the console, as QEMU's serial socket can.
  const service = {
    status: () => ({ state: 'running' }),
    get: () => ({ id: 'vm-1' }),
    driverFor: () => ({
      attachConsole: async (): Promise<ConsoleConnection> => {
        await attaching;
        return { write: (d: Buffer) => void written.push(d.toString()), onOutput: () => undefined, onClose: () => undefined, close: () => undefined };
      },
    }),
  } as unknown as HostVmService;
  const app = Fastify();
  await app.register(websocket);
  await app.register(vmRoutes(service));
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/vms/pv/console`);
  t.after(() => ws.close());
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send('echo one\n');
  ws.send('echo two\n');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(written, [], 'nothing is written before the console is attached');
  attached();
  ws.send('echo three\n');
  const deadline = Date.now() + 2_000;
  while (written.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(written, ['echo one\n', 'echo two\n', 'echo three\n']);
});
