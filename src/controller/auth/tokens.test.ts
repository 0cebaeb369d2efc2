import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDroverError } from '../../shared/errors.js';
import { EventLog } from '../events/event-log.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { ensureAdminToken } from './admin-token.js';
import { hashSecret, TokenService } from './tokens.js';

const admin = { name: 'admin' };

function setup() {
  const store = SqliteStore.open(':memory:');
  const events = new EventLog(store);
  return { store, events, tokens: new TokenService(store, events) };
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-auth-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a created token has a drv_ secret shown once; only its sha256 is stored', async () => {
  const { store, tokens, events } = setup();
  const { token, secret } = await tokens.create('ci', admin);
  assert.match(secret, /^drv_[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(secret.slice(4), 'base64url').length, 32);
  const [stored] = await store.tokens.list();
  assert.equal(stored?.hash, hashSecret(secret));
  assert.ok(!JSON.stringify(await store.tokens.list()).includes(secret.slice(4)));
  assert.ok(!('hash' in token));
  assert.deepEqual((await tokens.list()).map((t) => Object.keys(t).includes('hash')), [false]);
  const [event] = await events.query();
  assert.deepEqual([event?.action, event?.actor, event?.objectName], ['token.create', 'admin', 'ci']);
});

test('verify accepts the secret and refuses malformed, unknown and revoked ones', async () => {
  const { tokens } = setup();
  const { secret } = await tokens.create('ci', admin);
  const ok = await tokens.verify(secret);
  assert.equal(ok.ok && ok.token.name, 'ci');
  assert.deepEqual(await tokens.verify('hunter2'), { ok: false, reason: 'malformed' });
  assert.deepEqual(await tokens.verify(`drv_${'A'.repeat(43)}`), { ok: false, reason: 'unknown' });
  await tokens.revoke('ci', admin);
  assert.deepEqual(await tokens.verify(secret), { ok: false, reason: 'revoked' });
});

test('an active name is taken (TOKEN_EXISTS) until revoked; revoking twice is TOKEN_NOT_FOUND', async () => {
  const { tokens } = setup();
  await tokens.create('ci', admin);
  await assert.rejects(tokens.create('ci', admin), (err) => isDroverError(err, 'TOKEN_EXISTS'));
  const revoked = await tokens.revoke('ci', admin);
  assert.ok(revoked.revokedAt);
  await assert.rejects(tokens.revoke('ci', admin), (err) => isDroverError(err, 'TOKEN_NOT_FOUND'));
  await tokens.create('ci', admin);
  // Oldest first: the revoked one, then the new active one.
  assert.deepEqual((await tokens.list()).map((t) => [t.name, t.revokedAt === null]), [
    ['ci', false],
    ['ci', true],
  ]);
});

test('token names follow the shared name rule', async () => {
  const { tokens } = setup();
  await assert.rejects(tokens.create('Not Valid', admin), (err) => isDroverError(err, 'INVALID_NAME'));
});

test('first start creates the admin token and a 0600 file; later starts leave both alone', async (t) => {
  const { tokens } = setup();
  const dir = tempDir(t);
  const first = await ensureAdminToken(dir, tokens);
  assert.ok(first.created);
  assert.equal(first.file, path.join(dir, 'admin.token'));
  assert.equal(statSync(first.file).mode & 0o777, 0o600);
  assert.equal(readFileSync(first.file, 'utf8').trim(), first.created);
  assert.equal((await tokens.verify(first.created)).ok, true);

  const second = await ensureAdminToken(dir, tokens);
  assert.equal(second.created, null);
  assert.equal(readFileSync(first.file, 'utf8').trim(), first.created);
  assert.equal((await tokens.list()).length, 1);
});

test('a missing file with an active admin token is not a reason to rotate it', async (t) => {
  const { tokens } = setup();
  const dir = tempDir(t);
  const first = await ensureAdminToken(dir, tokens);
  rmSync(first.file);
  assert.equal((await ensureAdminToken(dir, tokens)).created, null);
  assert.equal((await tokens.list()).length, 1);
});

test('after the admin token is revoked, the next start creates a new one (the recovery path)', async (t) => {
  const { tokens } = setup();
  const dir = tempDir(t);
  const first = await ensureAdminToken(dir, tokens);
  await tokens.revoke('admin', admin);
  const again = await ensureAdminToken(dir, tokens);
  assert.ok(again.created && again.created !== first.created);
  assert.equal(readFileSync(again.file, 'utf8').trim(), again.created);
  assert.equal(statSync(again.file).mode & 0o777, 0o600);
});

test('a leftover file that does not verify is replaced on first start', async (t) => {
  const { tokens } = setup();
  const dir = tempDir(t);
  writeFileSync(path.join(dir, 'admin.token'), 'drv_stale\n', { mode: 0o644 });
  const created = await ensureAdminToken(dir, tokens);
  assert.ok(created.created);
  assert.equal(statSync(created.file).mode & 0o777, 0o600);
});
