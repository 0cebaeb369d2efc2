import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cleanupDataDir, makeDataDir, startAgent, type TestAgent } from '../helpers/agent.js';

interface ApiError {
  code: string;
  message: string;
}

/** Entries of a directory, to prove a failed request left nothing behind. */
function entries(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

describe('bad input gets coded errors and leaves nothing half-created', () => {
  let agent: TestAgent;
  const dataDir = makeDataDir();
  const vmsDir = path.join(dataDir, 'vms');
  const imagesDir = path.join(dataDir, 'images');
  let imagesBefore: string[] = [];

  before(async () => {
    agent = await startAgent(dataDir);
    imagesBefore = entries(imagesDir);
  });
  after(async () => {
    await agent?.stopProcess();
    try {
      execFileSync('umount', [vmsDir]);
    } catch {
      // Not mounted (the full-disk test did not get that far).
    }
    await cleanupDataDir(dataDir);
  });

  const badVms: Array<[string, Record<string, unknown>, number, string]> = [
    ['uppercase name', { name: 'Bad_Name', image: 'tiny' }, 400, 'INVALID_NAME'],
    ['name with a slash', { name: 'a/b', image: 'tiny' }, 400, 'INVALID_NAME'],
    ['name of 70 characters', { name: 'a'.repeat(70), image: 'tiny' }, 400, 'INVALID_ARGUMENT'],
    ['zero memory', { name: 'x', image: 'tiny', memoryMiB: 0 }, 400, 'INVALID_ARGUMENT'],
    ['impossible CPU count', { name: 'x', image: 'tiny', cpus: 1000 }, 400, 'INVALID_ARGUMENT'],
    ['disk size as text', { name: 'x', image: 'tiny', diskGiB: 'big' }, 400, 'INVALID_ARGUMENT'],
    ['disk of a million GiB', { name: 'x', image: 'tiny', diskGiB: 1_000_000 }, 400, 'INVALID_ARGUMENT'],
    ['fractional disk size', { name: 'x', image: 'tiny', diskGiB: 1.5 }, 400, 'INVALID_ARGUMENT'],
    ['unknown field', { name: 'x', image: 'tiny', colour: 'blue' }, 400, 'INVALID_ARGUMENT'],
    ['unknown image', { name: 'x', image: 'nope' }, 404, 'IMAGE_NOT_FOUND'],
    ['no image and no disk', { name: 'x' }, 400, 'INVALID_ARGUMENT'],
    ['unknown device model', { name: 'x', image: 'tiny', devices: 'xen' }, 400, 'INVALID_ARGUMENT'],
  ];
  for (const [label, body, status, code] of badVms) {
    test(`VM create refuses ${label}`, async () => {
      const res = await agent.api<ApiError>('POST', '/api/v1/vms', body);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.code, code);
      assert.ok(res.body.message.length > 10);
      assert.deepEqual(entries(vmsDir), []);
    });
  }

  test('a body that is not JSON gets 400, not 500', async () => {
    const res = await fetch(`${agent.url}/api/v1/vms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
      body: '{"name": ',
    });
    assert.equal(res.status, 400);
  });

  test('no token or a wrong token gets 401', async () => {
    assert.equal((await fetch(`${agent.url}/api/v1/vms`)).status, 401);
    const wrong = await fetch(`${agent.url}/api/v1/vms`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
  });

  const badImages: Array<[string, () => string, number, string]> = [
    ['a missing file', () => path.join(dataDir, 'missing.qcow2'), 404, 'FILE_NOT_FOUND'],
    [
      'a text file',
      () => {
        const file = path.join(dataDir, 'notes.txt');
        fs.writeFileSync(file, 'this is not a disk image\n');
        return file;
      },
      422,
      'IMAGE_INVALID',
    ],
    [
      'a qcow2 with a smashed header',
      () => {
        const file = path.join(dataDir, 'broken.qcow2');
        execFileSync('qemu-img', ['create', '-f', 'qcow2', file, '64M']);
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, 8);
        fs.closeSync(fd);
        return file;
      },
      422,
      'IMAGE_INVALID',
    ],
  ];
  for (const [label, make, status, code] of badImages) {
    test(`image import refuses ${label}`, async () => {
      const res = await agent.api<ApiError>('POST', '/api/v1/images/import', { path: make(), name: 'broken' });
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.code, code);
      assert.deepEqual(entries(imagesDir), imagesBefore);
    });
  }

  test('a full disk: VM creation fails with NO_SPACE and leaves nothing', async () => {
    fs.mkdirSync(vmsDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', vmsDir]);
    const res = await agent.api<ApiError>('POST', '/api/v1/vms', { name: 'big', image: 'tiny', clone: 'full' });
    assert.equal(res.status, 507, JSON.stringify(res.body));
    assert.equal(res.body.code, 'NO_SPACE');
    assert.deepEqual(entries(vmsDir), []);
    assert.equal((await agent.api('GET', '/api/v1/vms/big')).status, 404);
  });
});
