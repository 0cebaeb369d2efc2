/**
 * API benchmark: latency and throughput of the controller's VM reads with 1,000 VMs on 30 simulated hosts in its
 * store. A real controller runs in this process; a separate load-generator process sends a fixed number of GETs
 * over keep-alive HTTP on 127.0.0.1, one at a time (latency) and 16 at a time (throughput).
 */
import { breakDownListVms } from './api/breakdown.js';
import { runLoad } from './api/load.js';
import { seededRandom } from './api/random.js';
import { describeFleet } from './lib/fleet.js';
import { formatMs } from './lib/report.js';
import { SIMULATED_HOSTS, SIMULATED_VMS, startSeededController, type SeededController } from './lib/seeded-controller.js';
import { percentile, summarize } from './lib/stats.js';
import type { Benchmark, BenchmarkContext, TargetResult, VariantResult } from './lib/types.js';

/** Counted and warm-up requests per case. */
const REQUESTS = 2000;
const WARMUP_REQUESTS = 200;
/** The goal for listing every VM, one request at a time. */
const LIST_P99_TARGET_MS = 50;
const LIST_PATH = '/api/v1/vms';

interface LoadCase {
  name: string;
  label: string;
  concurrency: number;
  /** The request paths, one per request. */
  paths: (count: number, vmNames: readonly string[]) => string[];
}

const listPaths = (count: number): string[] => Array.from({ length: count }, () => LIST_PATH);
const showPaths = (count: number, vmNames: readonly string[], seed: number): string[] => {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => `${LIST_PATH}/${vmNames[Math.floor(random() * vmNames.length)] ?? ''}`);
};

const CASES: readonly LoadCase[] = [
  { name: 'list-c1', label: 'GET /api/v1/vms (all 1,000), 1 at a time', concurrency: 1, paths: listPaths },
  { name: 'list-c16', label: 'GET /api/v1/vms (all 1,000), 16 at a time', concurrency: 16, paths: listPaths },
  { name: 'show-c1', label: 'GET /api/v1/vms/:name (random VM), 1 at a time', concurrency: 1, paths: (n, names) => showPaths(n, names, 1) },
  { name: 'show-c16', label: 'GET /api/v1/vms/:name (random VM), 16 at a time', concurrency: 16, paths: (n, names) => showPaths(n, names, 16) },
];

/** Fetches the list once to check that the controller answers with the whole fleet; returns the body size. */
async function checkList(seeded: SeededController): Promise<number> {
  const response = await fetch(`${seeded.url}${LIST_PATH}`, { headers: { authorization: `Bearer ${seeded.token}` } });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${LIST_PATH} answered ${response.status}: ${text.slice(0, 200)}`);
  const count = (JSON.parse(text) as { vms: unknown[] }).vms.length;
  if (count !== SIMULATED_VMS) throw new Error(`GET ${LIST_PATH} listed ${count} VMs, expected ${SIMULATED_VMS}`);
  return Buffer.byteLength(text);
}

async function measure(loadCase: LoadCase, seeded: SeededController, ctx: BenchmarkContext): Promise<VariantResult> {
  const reply = await runLoad({
    url: seeded.url,
    token: seeded.token,
    concurrency: loadCase.concurrency,
    warmupPaths: loadCase.paths(WARMUP_REQUESTS, seeded.vmNames),
    paths: loadCase.paths(REQUESTS, seeded.vmNames),
  });
  const { samples, failures } = reply;
  const result: VariantResult = {
    name: loadCase.name,
    label: loadCase.label,
    status: samples.length > 0 ? 'ok' : 'failed',
    ...(samples.length > 0 ? {} : { reason: `every request failed; first: ${failures[0] ?? 'none'}` }),
    unit: 'ms',
    samples,
    failures: failures.slice(0, 20),
    ...summarize(samples),
    p90: percentile(samples, 0.9),
    p99: percentile(samples, 0.99),
    concurrency: loadCase.concurrency,
    requestsPerSecond: Math.round((samples.length / (reply.wallMs / 1000)) * 10) / 10,
  };
  if (failures.length > 20) result.failures.push(`... and ${failures.length - 20} more failed requests`);
  ctx.log(`api ${loadCase.name}: p50 ${formatMs(result.median)}, p99 ${formatMs(result.p99)}, ${result.requestsPerSecond} requests/s, ${failures.length} failed`);
  return result;
}

function listTarget(list: VariantResult | undefined): TargetResult {
  const description = `p99 of GET /api/v1/vms with ${SIMULATED_VMS} VMs, one request at a time, at most ${LIST_P99_TARGET_MS} ms`;
  if (list?.p99 === undefined) return { description, met: null, detail: `no samples (${list?.reason ?? 'not run'})` };
  return { description, met: list.p99 <= LIST_P99_TARGET_MS, detail: `p99 ${formatMs(list.p99)}, p50 ${formatMs(list.median)}` };
}

/** The API benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'api',
  title: 'Controller API: VM reads with 1,000 VMs',
  description: `Latency and throughput of GET /api/v1/vms (all ${SIMULATED_VMS} VMs) and GET /api/v1/vms/:name against a real controller over HTTP on 127.0.0.1, its store seeded with ${SIMULATED_HOSTS} simulated hosts and ${SIMULATED_VMS} VMs.`,
  async run(ctx) {
    const seeded = await startSeededController('api');
    const variants: VariantResult[] = [];
    const notes: string[] = [];
    try {
      const listBytes = await checkList(seeded);
      for (const loadCase of CASES) variants.push(await measure(loadCase, seeded, ctx));
      const phases = await breakDownListVms(seeded);
      notes.push(
        `Store: ${describeFleet(seeded.fleet)}, the VMs spread round-robin over the hosts; a third of the VMs have a data disk, a fifth two NICs, a seventh snapshots. The hosts (simulated-host-NN) have no agent and the controller's heartbeats are not started; the VMs are simulated-vm-NNNN.`,
        `GET /api/v1/vms answers ${(listBytes / 1024).toFixed(0)} KiB of JSON.`,
        'Client: a separate Node process (node:http, keep-alive, one connection per request in flight); latency is from sending the request to the last byte of the answer. Client and controller share the machine\'s CPUs.',
        'GET /api/v1/vms/:name picks VM names with a seeded random generator, the same sequence every run.',
        `Where one GET /api/v1/vms goes, in-process on the idle controller (medians of 200): ${phases.map((p) => `${p.name} ${p.medianMs.toFixed(2)} ms`).join('; ')}.`,
      );
    } finally {
      await seeded.close();
    }
    return {
      runs: REQUESTS,
      warmupRuns: WARMUP_REQUESTS,
      variants,
      targets: [listTarget(variants.find((v) => v.name === 'list-c1'))],
      notes,
      procedure: `${REQUESTS} counted requests per variant after ${WARMUP_REQUESTS} warm-up requests, variants one after another against the same controller.`,
      ownLoad: 'The controller and the load generator account for up to about 2',
    };
  },
};
