import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { VmWire } from '../../src/controller/vms/schema.js';
import { run, type RunResult } from '../../src/shared/exec.js';
import { repoRoot } from '../../src/shared/paths.js';
import { testbedDown } from '../../src/testbed/down.js';
import { makeDataDir } from './agent.js';
import { cleanupDrover, startDrover, type TestDrover } from './up.js';

/** A testbed host as `drover testbed status -o json` lists it. */
export interface TestbedHost {
  name: string;
  /** Its network namespace. */
  namespace: string;
  /** Its address on the testbed bridge. */
  address: string;
}

/** A controller for testbed hosts to join, and what a cluster test does with it. */
export interface ClusterContext {
  dataDir: string;
  testbedDir: string;
  /** The running controller (set once the suite's `before` ran). */
  readonly drover: TestDrover;
  /** Runs the CLI from source against this controller. */
  cli(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** The guest uptime of `vm`, in seconds. */
  uptime(vm: string): Promise<number>;
  /** The VM as GET /api/v1/vms/:name shows it. */
  vm(name: string): Promise<VmWire>;
  /** The hosts of the testbed in `testbedDir`. */
  testbedHosts(): Promise<TestbedHost[]>;
}

/** The VM's NIC on a virtual network (mode network); asserts it has one. */
export function networkNic(vm: VmWire): VmWire['nics'][number] {
  const nic = vm.nics.find((n) => n.mode === 'network');
  assert.ok(nic, JSON.stringify(vm.nics));
  return nic;
}

/**
 * Starts `drover up` listening on every address (testbed hosts reach it at the bridge's address)
 * before the suite, and after it deletes `vms`, takes the testbed down and removes everything.
 */
export function useCluster(prefix: string, vms: string | string[]): ClusterContext {
  const dataDir = makeDataDir();
  const testbedDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), prefix)), 'testbed');
  let drover: TestDrover | undefined;
  const current = (): TestDrover => {
    if (!drover) throw new Error('the cluster controller is not running yet');
    return drover;
  };
  before(async () => {
    drover = await startDrover(dataDir, undefined, '0.0.0.0');
  });
  after(async () => {
    for (const vm of typeof vms === 'string' ? [vms] : vms) await drover?.api('DELETE', `/api/v1/vms/${vm}?force=true`).catch(() => undefined);
    await testbedDown(testbedDir).catch((err: unknown) => console.error('testbed cleanup:', err));
    fs.rmSync(path.dirname(testbedDir), { recursive: true, force: true });
    await cleanupDrover(drover, dataDir);
  });
  const cli = (args: string[], timeoutMs = 180_000): Promise<RunResult> =>
    run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, DROVER_URL: current().url, DROVER_TOKEN: current().token, XDG_CONFIG_HOME: current().configHome },
      allowFailure: true,
      timeoutMs,
    });
  return {
    dataDir,
    testbedDir,
    get drover() {
      return current();
    },
    cli,
    uptime: async (name) => {
      const exec = await current().api<{ exitCode: number; stdout: string }>('POST', `/api/v1/vms/${name}/exec`, { command: '/bin/sh', args: ['-c', "cut -d' ' -f1 /proc/uptime"] });
      assert.equal(exec.body.exitCode, 0, JSON.stringify(exec.body));
      return Number(exec.body.stdout.trim());
    },
    vm: async (name) => (await current().api<VmWire>('GET', `/api/v1/vms/${name}`)).body,
    testbedHosts: async () => {
      const status = await cli(['testbed', 'status', '--dir', testbedDir, '-o', 'json']);
      assert.equal(status.code, 0, status.stderr);
      return (JSON.parse(status.stdout) as { hosts: TestbedHost[] }).hosts;
    },
  };
}
