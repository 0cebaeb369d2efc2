import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../../shared/paths.js';
import { integrityCheck, openDatabase } from './db.js';

const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kill9-writer.ts');

/** Starts the writer, waits until it has acknowledged `commits` transactions, then SIGKILLs it. */
function writeThenKill(file: string, commits: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, file], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let acknowledged = 0;
    let seen = 0;
    let stderr = '';
    let buffered = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) acknowledged = Number(line);
      seen += lines.length;
      if (seen >= commits && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited without being killed: ${stderr}`));
      else resolve(acknowledged);
    });
  });
}

/** Reads the file as a fresh process would after the crash and checks it is a whole prefix. */
function checkConsistentPrefix(file: string): number {
  const db = openDatabase(file);
  try {
    assert.deepEqual(integrityCheck(db), ['ok']);
    const counter = db.prepare("SELECT usage FROM hosts WHERE id = 'counter'").get() as { usage: string } | undefined;
    const last = counter ? (JSON.parse(counter.usage) as { cpus: number }).cpus : 0;
    const events = db.prepare("SELECT object_id AS n, COUNT(*) AS parts FROM events WHERE object_type = 'test' GROUP BY object_id").all() as {
      n: string;
      parts: number;
    }[];
    const numbers = events.map((e) => Number(e.n)).sort((a, b) => a - b);
    assert.deepEqual(numbers, Array.from({ length: last }, (_, i) => i + 1), 'events are exactly transactions 1..last');
    assert.ok(events.every((e) => e.parts === 3), 'no transaction is half-written');
    const operations = db.prepare("SELECT COUNT(*) AS count FROM operations WHERE id LIKE 'op-%'").get() as { count: number };
    assert.equal(operations.count, last);
    return last;
  } finally {
    db.close();
  }
}

test('the store survives kill -9 mid-write: integrity ok, data a consistent prefix, acknowledged commits kept', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'drover-kill9-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'controller.db');
  let previous = 0;
  for (let round = 0; round < 4; round++) {
    const commits = 50 + Math.floor(Math.random() * 400);
    const acknowledged = await writeThenKill(file, commits);
    const last = checkConsistentPrefix(file);
    assert.ok(acknowledged > previous, `round ${round} made progress`);
    assert.ok(last >= acknowledged, `round ${round}: commit ${acknowledged} was acknowledged but only ${last} survived`);
    previous = last;
  }
});
