import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError, type ErrorCode } from '../shared/errors.js';
import { fsError, isTempName, publishNoClobber, sha256File, tempPathFor, writeAtomically } from './files.js';

let dir: string;

const withCode = (code: ErrorCode) => (err: unknown) => {
  assert.ok(isDroverError(err), `expected a DroverError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return true;
};

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-files-'));
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test('temp paths sit next to the target and are recognisable', () => {
  const temp = tempPathFor('/data/vm/root.qcow2');
  assert.equal(path.dirname(temp), '/data/vm');
  assert.match(path.basename(temp), /^root\.qcow2\.tmp-[0-9a-f]{12}$/);
  assert.ok(isTempName(path.basename(temp)));
  assert.ok(!isTempName('root.qcow2'));
  assert.notEqual(tempPathFor('/x'), tempPathFor('/x'));
});

test('writeAtomically publishes the finished file', async () => {
  const target = path.join(dir, 'done');
  await writeAtomically(target, 'DISK_EXISTS', (temp) => fs.writeFile(temp, 'complete'));
  assert.equal(await fs.readFile(target, 'utf8'), 'complete');
  await assert.rejects(
    writeAtomically(target, 'DISK_EXISTS', (temp) => fs.writeFile(temp, 'second')),
    withCode('DISK_EXISTS'),
  );
  assert.equal(await fs.readFile(target, 'utf8'), 'complete', 'an existing file is never replaced');
  assert.deepEqual(await fs.readdir(dir), ['done']);
  await fs.rm(target);
});

test('writeAtomically removes a half-written temp file when the writer fails', async () => {
  const target = path.join(dir, 'half');
  const failure = Object.assign(new Error('disk full'), { code: 'ENOSPC' });
  await assert.rejects(
    writeAtomically(target, 'DISK_EXISTS', async (temp) => {
      await fs.writeFile(temp, Buffer.alloc(4096, 7));
      throw failure;
    }),
    withCode('NO_SPACE'),
  );
  assert.deepEqual(await fs.readdir(dir), []);
});

test('publishNoClobber refuses an existing target and leaves both files', async () => {
  const temp = path.join(dir, 'a.tmp-000000000000');
  const target = path.join(dir, 'a');
  await fs.writeFile(temp, 'new');
  await fs.writeFile(target, 'old');
  await assert.rejects(publishNoClobber(temp, target, 'IMAGE_EXISTS'), withCode('IMAGE_EXISTS'));
  assert.equal(await fs.readFile(target, 'utf8'), 'old');
  await fs.rm(temp);
  await fs.rm(target);
});

test('fsError maps errno codes to Drover codes', () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(fsError(errno('ENOSPC'), 'x').code, 'NO_SPACE');
  assert.equal(fsError(errno('EDQUOT'), 'x').code, 'NO_SPACE');
  assert.equal(fsError(errno('ENOENT'), 'x').code, 'FILE_NOT_FOUND');
  assert.equal(fsError(errno('EIO'), 'x').code, 'STORAGE_ERROR');
});

test('sha256File hashes the content', async () => {
  const file = path.join(dir, 'abc');
  await fs.writeFile(file, 'abc');
  assert.equal(await sha256File(file), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  await assert.rejects(sha256File(path.join(dir, 'missing')), withCode('FILE_NOT_FOUND'));
  await fs.rm(file);
});
