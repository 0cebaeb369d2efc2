/**
 * Part 3, overhead: the same CPU, disk and network workloads four ways in one run: directly on the host, in a Drover
 * container (tiny-ct), in a Drover VM with virtio devices and in one with emulated devices (tiny image, IDE + e1000).
 * Every way runs the same busybox (Debian's busybox-static, the same build on the host and in both images) and the
 * same scripts, timed inside with the clock adjtimex reads (microseconds). The network figure is an HTTP download of a file the
 * guest serves from RAM with busybox httpd (sendfile), to the host over a bridge of the benchmark's own: the
 * container's veth and the VMs' taps join it; the host way serves over its own address (loopback, in effect).
 * Trials are interleaved way by way, all four ways up at once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TinyImage } from '../../src/images/tiny/build.js';
import { exited, runChecked, stopChild } from '../lib/process.js';
import { median } from '../lib/stats.js';
import type { ResultTable } from '../lib/types.js';
import { DroverContainers } from './drover-containers.js';
import type { ContainerImage } from './images.js';
import { type BenchBridge, createBridge, download } from './network.js';
import { fixed } from './numbers.js';
import { type Teardown, killIfOurs } from './teardown.js';
import { DroverVms } from './vms.js';

const LOOP_ITERATIONS = 300_000;
const MD5_MIB = 64;
const DISK_MIB = 192;
const NET_MIB = 64;
const HTTP_PORT = 8080;
/** Timed empty scripts per way, whose median is the clock readings' own cost there. */
const CLOCK_CALIBRATIONS = 5;
/** Guest size for this part: Drover's default VM (256 MiB, 1 vCPU); the container gets the same limits. */
const MEMORY_MIB = 256;

/** One way of running the workloads. */
interface Place {
  name: 'host' | 'container' | 'vm-virtio' | 'vm-emulated';
  label: string;
  sh: (script: string) => Promise<string>;
  /** Empties the page caches that hold the test file: the guest kernel's (VMs) and the host's (always). */
  dropCaches: () => Promise<void>;
  /** Where its HTTP server listens. */
  url: string;
  /** Seconds `timed()` reports around nothing here (the clock readings' own cost), taken off every timed figure. */
  clockCost: number;
}

/** The seconds `body` took in `place`, without the cost of reading the clock. */
async function elapsed(place: Place, body: string): Promise<number> {
  return Math.max(0.001, clockSeconds(await place.sh(timed(body))) - place.clockCost);
}

interface Workload {
  name: string;
  label: string;
  unit: 's' | 'MiB/s';
  run: (place: Place) => Promise<number>;
}

/**
 * Wraps `body` so that it prints the clock before and after it, in microseconds: busybox has no `date +%N`, and
 * /proc/uptime counts in 10 ms steps, too coarse for the host's disk reads, so `adjtimex` (which only reads the clock
 * here) gives the time. Reading it costs a fork or two, which each way's `clockCost` takes back out.
 */
function timed(body: string): string {
  const now = "adjtimex | awk '/tv_sec/ { s = $2 } /tv_usec/ { u = $2 } END { printf \"%d%06d\", s, u }'";
  return `s=$(${now}); ${body}; e=$(${now}); echo "clock $s $e"`;
}

/** Seconds between the two clock readings of a `timed()` script's output. */
function clockSeconds(output: string): number {
  const match = /clock (\d+) (\d+)/.exec(output);
  if (!match) throw new Error(`no timing in ${JSON.stringify(output.slice(-200))}`);
  return (Number(match[2]) - Number(match[1])) / 1e6;
}

async function dropHostCaches(): Promise<void> {
  await runChecked('sync', []);
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}

const WORKLOADS: Workload[] = [
  {
    name: 'cpu-shell',
    label: `CPU: shell arithmetic loop, ${LOOP_ITERATIONS / 1000}k iterations (busybox sh)`,
    unit: 's',
    run: (place) => elapsed(place, `i=0; while [ $i -lt ${LOOP_ITERATIONS} ]; do i=$((i+1)); done`),
  },
  {
    name: 'cpu-md5',
    label: `CPU: md5sum of ${MD5_MIB} MiB from /dev/zero through a pipe`,
    unit: 's',
    run: (place) => elapsed(place, `dd if=/dev/zero bs=1M count=${MD5_MIB} 2>/dev/null | md5sum >/dev/null`),
  },
  {
    name: 'disk-write',
    label: `Disk: write ${DISK_MIB} MiB to the root filesystem, conv=fsync`,
    unit: 'MiB/s',
    run: async (place) => DISK_MIB / (await elapsed(place, `dd if=/dev/zero of=bench.dat bs=1M count=${DISK_MIB} conv=fsync 2>/dev/null`)),
  },
  {
    name: 'disk-read',
    label: `Disk: read those ${DISK_MIB} MiB back, page caches dropped first`,
    unit: 'MiB/s',
    run: async (place) => {
      await place.dropCaches();
      const seconds = await elapsed(place, 'dd if=bench.dat of=/dev/null bs=1M 2>/dev/null');
      await place.sh('rm -f bench.dat');
      return DISK_MIB / seconds;
    },
  },
  {
    name: 'network',
    label: `Network: HTTP download of ${NET_MIB} MiB from the guest to the host (busybox httpd with sendfile, curl)`,
    unit: 'MiB/s',
    run: async (place) => {
      const { bytes, seconds } = await download(place.url);
      if (bytes !== NET_MIB * 1024 * 1024) throw new Error(`${place.url}: ${bytes} bytes instead of ${NET_MIB} MiB`);
      return NET_MIB / seconds;
    },
  },
];

/** Gives a guest its address on the bridge (a VM's DHCP client is stopped first: there is no server) and starts httpd serving the blob. */
function serveScript(address: string, vm: boolean): string {
  return [
    vm ? 'kill $(cat /run/udhcpc.*.pid 2>/dev/null) 2>/dev/null; true' : 'true',
    'iface=$(ls /sys/class/net | grep -v "^lo$" | head -1)',
    vm ? 'ip addr flush dev "$iface"' : 'true',
    `ip addr add ${address}/24 dev "$iface"`,
    'ip link set "$iface" up',
    `mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/blob bs=1M count=${NET_MIB} 2>/dev/null`,
    `httpd -p ${address}:${HTTP_PORT} -h /tmp/www`,
    // The working directory of the disk workloads.
    'mkdir -p /root',
  ].join(' && ');
}

export interface OverheadInput {
  image: ContainerImage | { missing: string };
  tiny: TinyImage;
  accelerator: 'kvm' | 'tcg';
  trials: number;
  workDir: string;
  token: string;
  teardown: Teardown;
  log: (message: string) => void;
}

export interface OverheadOutcome {
  tables: ResultTable[];
  notes: string[];
  data: Record<string, unknown>;
}

/** Part 3; see the file comment. */
export async function runOverheadPart(input: OverheadInput): Promise<OverheadOutcome> {
  const { teardown, log } = input;
  const bridge = await createBridge(input.token, teardown);
  const places: Place[] = [await hostPlace(input.workDir, bridge, teardown)];
  const unavailable: string[] = [];
  if ('missing' in input.image) {
    unavailable.push(`container: ${input.image.missing}`);
  } else {
    const containers = DroverContainers.open(input.workDir, 'overhead-drover', teardown);
    const spec = await containers.create(input.image, 'overhead-ct', { memoryMiB: MEMORY_MIB, cpus: 1, diskSize: '512M', bridge: bridge.name });
    await containers.startReady(spec);
    await containers.sh(spec.id, serveScript(bridge.guestAddress(1), false));
    places.push({
      name: 'container',
      label: `Drover container (${input.image.name})`,
      sh: (script) => containers.sh(spec.id, `cd /root && ${script}`, 300_000),
      dropCaches: dropHostCaches,
      url: `http://${bridge.guestAddress(1)}:${HTTP_PORT}/blob`,
      clockCost: 0,
    });
  }
  const vms = DroverVms.open(input.workDir, 'overhead-vms', input.tiny, input.accelerator, teardown);
  for (const [index, devices] of (['virtio', 'emulated'] as const).entries()) {
    const spec = await vms.create(`overhead-${devices}`, { memoryMiB: MEMORY_MIB, devices, bridge: bridge.name });
    await vms.startReady(spec);
    const address = bridge.guestAddress(2 + index);
    await vms.sh(spec.id, serveScript(address, true));
    places.push({
      name: devices === 'virtio' ? 'vm-virtio' : 'vm-emulated',
      label: devices === 'virtio' ? 'Drover VM, virtio (TCG)' : 'Drover VM, emulated IDE + e1000 (TCG)',
      sh: (script) => vms.sh(spec.id, `cd /root && ${script}`),
      dropCaches: async () => {
        await vms.sh(spec.id, 'sync; echo 3 > /proc/sys/vm/drop_caches');
        await dropHostCaches();
      },
      url: `http://${address}:${HTTP_PORT}/blob`,
      clockCost: 0,
    });
  }
  log(`containers overhead: ${places.map((p) => p.name).join(', ')} up`);
  // One untimed download each: ARP, the first connection, the guest reading its blob into its cache once.
  for (const place of places) await download(place.url);
  for (const place of places) {
    const costs: number[] = [];
    for (let i = 0; i < CLOCK_CALIBRATIONS; i++) costs.push(clockSeconds(await place.sh(timed('true'))));
    place.clockCost = median(costs) ?? 0;
  }

  const samples = new Map<string, number[]>();
  const failures: string[] = [];
  for (let trial = 0; trial < input.trials; trial++) {
    for (const workload of WORKLOADS) {
      for (const place of places) {
        try {
          const value = await workload.run(place);
          const key = `${workload.name}/${place.name}`;
          samples.set(key, [...(samples.get(key) ?? []), value]);
          log(`containers overhead ${workload.name} ${place.name} trial ${trial + 1}: ${value.toFixed(2)} ${workload.unit}`);
        } catch (err) {
          failures.push(`${workload.name} ${place.name} trial ${trial + 1}: ${err instanceof Error ? err.message : String(err)}`);
          log(`containers overhead ${workload.name} ${place.name} trial ${trial + 1} failed: ${failures.at(-1)}`);
        }
      }
    }
  }

  const order: Place['name'][] = ['host', 'container', 'vm-virtio', 'vm-emulated'];
  const labels = new Map(places.map((p) => [p.name, p.label]));
  const rows = WORKLOADS.map((workload) => {
    const hostValue = median(samples.get(`${workload.name}/host`) ?? []);
    return [
      `${workload.label} (${workload.unit === 's' ? 'seconds' : 'MiB/s'})`,
      ...order.map((name) => {
        const value = median(samples.get(`${workload.name}/${name}`) ?? []);
        if (value === undefined) return labels.has(name) ? 'failed' : 'not run';
        const shown = workload.unit === 's' ? fixed(value, 2, ' s') : fixed(value, 0, ' MiB/s');
        if (name === 'host' || hostValue === undefined) return shown;
        // As time relative to the host: for a throughput, host over this way.
        const ratio = workload.unit === 's' ? value / hostValue : hostValue / value;
        return `${shown} (${ratio.toFixed(2)}×)`;
      }),
    ];
  });
  const notes = [
    `Overhead: each workload run ${input.trials} time(s) each way, interleaved (every way once per workload, then the next workload, then the next trial), medians shown; the ratio in brackets is the time relative to the host (1.00× = as fast as the host, 2.00× = takes twice as long; for a throughput, host MiB/s over this way's).`,
    `Guests: the container has a ${MEMORY_MIB} MiB memory limit and 1 CPU's quota, a 512 MiB overlay (the driver grows its filesystem) and a veth on the bridge; the VMs have ${MEMORY_MIB} MiB, 1 vCPU, the tiny image's 256 MiB disk and a tap on the bridge. The host way runs \`busybox sh\` directly, its disk file in the benchmark's temp directory, its httpd on the bridge's host address.`,
    'Disk reads: the host\'s page cache is dropped before each read (sync; echo 3 > /proc/sys/vm/drop_caches) and a VM\'s own as well; a container shares the host\'s. The container\'s file lies on ext4 on a loop device on the FUSE export of its qcow2 overlay; a VM\'s on ext4 on virtio-blk or IDE on its qcow2 overlay (QEMU\'s default writeback cache); the host\'s on the host\'s filesystem. The container\'s conv=fsync does reach its qcow2 file (its storage daemon calls fdatasync; checked with strace while this benchmark was written).',
    'The VMs run under TCG (no KVM on this machine): every guest instruction is translated, so their CPU-bound figures say how slow emulation is here, not what KVM would give; with KVM, CPU work in a VM runs near native speed and the device paths dominate the difference.',
    `Timing: the clock is read with busybox adjtimex before and after each workload (microseconds), and the median time an empty script measured that way (${CLOCK_CALIBRATIONS} runs per way: ${places.map((p) => `${p.name} ${(p.clockCost * 1000).toFixed(1)} ms`).join(', ')}) is taken off each figure.`,
    ...unavailable.map((u) => `Not run: ${u}.`),
    ...failures.map((f) => `Failed: ${f}`),
  ];
  return {
    tables: [
      {
        title: 'Workload overhead: host, container, VMs (medians; in brackets, time relative to the host)',
        description: 'The same busybox scripts four ways; VMs under TCG.',
        columns: ['Workload', 'Host', 'Drover container', 'Drover VM, virtio (TCG)', 'Drover VM, emulated (TCG)'],
        rows,
      },
    ],
    notes,
    data: { trials: input.trials, clockCostSeconds: Object.fromEntries(places.map((p) => [p.name, p.clockCost])), samples: Object.fromEntries(samples), failures },
  };
}

/** The host way: busybox sh in a directory of the benchmark's, and busybox httpd serving the blob from RAM (/dev/shm). */
async function hostPlace(workDir: string, bridge: BenchBridge, teardown: Teardown): Promise<Place> {
  const dir = path.join(workDir, 'overhead-host');
  const www = fs.mkdtempSync('/dev/shm/drvbench-www-');
  teardown.add(`directory ${www}`, async () => fs.rmSync(www, { recursive: true, force: true }), () => fs.rmSync(www, { recursive: true, force: true }));
  fs.mkdirSync(dir, { recursive: true });
  await runChecked('busybox', ['dd', 'if=/dev/zero', `of=${path.join(www, 'blob')}`, 'bs=1M', `count=${NET_MIB}`]);
  const httpd: ChildProcess = spawn('busybox', ['httpd', '-f', '-p', `${bridge.hostAddress}:${HTTP_PORT}`, '-h', www], { stdio: 'ignore' });
  teardown.add('host httpd', () => stopChild(httpd), () => killIfOurs(httpd.pid, 'httpd'));
  const early = exited(httpd).then(() => {
    throw new Error(`busybox httpd on ${bridge.hostAddress}:${HTTP_PORT} exited at once`);
  });
  early.catch(() => undefined);
  await Promise.race([sleep(500), early]);
  return {
    name: 'host',
    label: 'Host',
    sh: (script) => runChecked('busybox', ['sh', '-c', script], { cwd: dir, timeoutMs: 300_000 }),
    dropCaches: dropHostCaches,
    url: `http://${bridge.hostAddress}:${HTTP_PORT}/blob`,
    clockCost: 0,
  };
}
