/**
 * What the fencing tests share: temp directories and processes that each test owns and removes
 * by path and pid when it ends, and small agent scripts written into those directories.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { isAlive } from '../drivers/qemu/process.js';
import { type DroverError, type ErrorCode, isDroverError } from '../shared/errors.js';

/** A fresh temp directory, removed (by this path only) when test `t` ends. */
export function ownedTempDir(t: TestContext, prefix = 'drover-fence-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `sleep 300` as a stand-in for a host's process; SIGKILLed by its pid when `t` ends if still alive. */
export function startSleeper(t: TestContext): number {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) throw new Error('sleep did not start');
  t.after(() => killIfAlive(pid));
  return pid;
}

/** SIGKILLs `pid` if it still runs; for cleaning up processes a test started or learned the pid of. */
export function killIfAlive(pid: number): void {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone meanwhile.
  }
}

/** Waits until `pid` is no longer alive; false when it still is after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Writes an executable `#!/bin/sh` agent called `name` into `dir`; returns its path. */
export function writeTestAgent(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/**
 * A misbehaving agent for tests, its behaviour picked by option `mode`: exit7, garbage, contradict
 * (exit 0 but "Status: OFF"), off-exit-2, signal, flood, echo-secret, leftover-child, off-later
 * (status on until `counter` has been bumped `after` times), env; `record=FILE` saves its stdin.
 */
export const ODDBALL_AGENT = String.raw`input=$(cat)
opt() { printf '%s\n' "$input" | sed -n "s/^$1=//p" | tail -n 1; }
record=$(opt record); [ -n "$record" ] && printf '%s' "$input" > "$record"
action=$(opt action)
case "$(opt mode)" in
  exit7) echo "something odd happened" >&2; exit 7 ;;
  garbage) printf '\001\002<<<&&& not xml \377\n'; exit 0 ;;
  contradict) echo "Status: OFF"; exit 0 ;;
  off-exit-2) [ "$action" = off ] && exit 2; exit 0 ;;
  signal) kill -9 $$ ;;
  flood) head -c 6000000 /dev/zero | tr '\000' x; exit 0 ;;
  echo-secret) echo "login as $(opt username) with password $(opt password) refused" >&2; exit 1 ;;
  leftover-child) sleep 300 & echo "left child $!" >&2; [ "$action" = status ] && exit 2; exit 0 ;;
  off-later)
    counter=$(opt counter)
    [ "$action" = off ] && { echo 0 > "$counter"; exit 0; }
    n=$(cat "$counter"); echo $((n + 1)) > "$counter"
    if [ "$n" -ge "$(opt after)" ]; then echo "Status: OFF"; exit 2; else echo "Status: ON"; exit 0; fi ;;
  env) env >&2; exit 1 ;;
esac
exit 0`;

/** Runs `promise`, expecting a DroverError with `code`; returns it. */
export async function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<DroverError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isDroverError(err, code), `expected ${code}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}
