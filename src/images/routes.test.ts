import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { run } from '../shared/exec.js';
import * as qemuImg from '../storage/qemu-img.js';
import { ImageLibrary } from './library.js';
import { imageRoutes } from './routes.js';

test("GET /api/v1/images lists each image's type, and a container image's init and stop signal", async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-image-routes-'));
  const app = Fastify();
  t.after(async () => {
    await app.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  const vmDisk = path.join(dir, 'vm.qcow2');
  await qemuImg.create(vmDisk, 4 * 1024 * 1024);
  const rootfs = path.join(dir, 'rootfs.raw');
  await run('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', rootfs, '8M']);
  const library = new ImageLibrary(path.join(dir, 'images'));
  await library.import(vmDisk, { name: 'plain' });
  const container = { init: ['/sbin/init'], stopSignal: 'SIGUSR2' };
  await library.registerBuiltContainer('tiny-ct', { disk: rootfs, osNotes: 'busybox', container });
  await app.register(imageRoutes(library, () => false));

  const res = await app.inject({ method: 'GET', url: '/api/v1/images' });
  assert.equal(res.statusCode, 200, res.body);
  const images = res.json<Array<{ name: string; type: string; container?: unknown }>>();
  assert.deepEqual(
    images.map((i) => [i.name, i.type, i.container]),
    [
      ['plain', 'vm', undefined],
      ['tiny-ct', 'container', container],
    ],
  );
  const one = await app.inject({ method: 'GET', url: '/api/v1/images/tiny-ct' });
  assert.equal(one.json<{ type: string }>().type, 'container');
});
