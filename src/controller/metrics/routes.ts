import { Type } from '@fastify/type-provider-typebox';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { errorResponses } from '../api/schemas.js';
import type { ControllerApp } from '../api/app.js';
import type { ControllerServices } from '../api/services.js';
import { VmCounterReadings, type VmCounterField } from './vm-counters.js';

const DEFAULT_METRICS_PREFIX = 'drover_controller_';
/**
 * prom-client's default gauges that end in _total: Prometheus reserves the suffix for counters
 * (promtool flags them), and each is the sum of the per-type gauge of the same name without it.
 */
const REDUNDANT_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * GET /metrics: Prometheus text with controller, host and VM figures (bearer token required, like every route).
 * The per-VM _total series are counters: they restart from 0 when the VM's QEMU (or container) restarts,
 * which Prometheus treats as a counter reset; see vm-counters.ts for the rounds a host could not read them.
 */
export function installMetrics(app: ControllerApp, services: ControllerServices): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: DEFAULT_METRICS_PREFIX });
  for (const name of REDUNDANT_DEFAULT_METRICS) registry.removeSingleMetric(DEFAULT_METRICS_PREFIX + name);
  const requests = new Counter({ name: 'drover_api_requests_total', help: 'API requests by method and status', labelNames: ['method', 'status'], registers: [registry] });
  // Hooks that never wait are written with `done`: an async hook costs a promise and a turn of the microtask queue on every request, 1,000 a second of them lease renewals at 1,000 hosts.
  app.addHook('onResponse', (request, reply, done) => {
    requests.inc({ method: request.method, status: String(reply.statusCode) });
    done();
  });

  const hostLabels = ['host'] as const;
  const vmLabels = ['vm', 'host'] as const;
  const hostGauges = {
    up: new Gauge({ name: 'drover_host_up', help: '1 when the host agent answers heartbeats', labelNames: hostLabels, registers: [registry] }),
    cpus: new Gauge({ name: 'drover_host_cpus', help: 'Host CPUs', labelNames: hostLabels, registers: [registry] }),
    memory: new Gauge({ name: 'drover_host_memory_bytes', help: 'Host memory in bytes', labelNames: hostLabels, registers: [registry] }),
    cpusAllocated: new Gauge({ name: 'drover_host_cpus_allocated', help: 'vCPUs of running VMs', labelNames: hostLabels, registers: [registry] }),
    memoryAllocated: new Gauge({ name: 'drover_host_memory_allocated_bytes', help: 'Memory of running VMs in bytes', labelNames: hostLabels, registers: [registry] }),
    load: new Gauge({ name: 'drover_host_load1', help: 'Host one-minute load average', labelNames: hostLabels, registers: [registry] }),
  };
  const vmGauges = {
    state: new Gauge({ name: 'drover_vm_running', help: '1 when the VM runs', labelNames: vmLabels, registers: [registry] }),
    rss: new Gauge({ name: 'drover_vm_memory_rss_bytes', help: 'Resident memory of the VM\'s QEMU in bytes', labelNames: vmLabels, registers: [registry] }),
  };
  const restarts = '; restarts from 0 when the VM\'s QEMU restarts';
  const vmCounters: Record<VmCounterField, Counter<'vm' | 'host'>> = {
    cpuSeconds: new Counter({ name: 'drover_vm_cpu_seconds_total', help: `CPU time used by the VM's QEMU in seconds${restarts}`, labelNames: vmLabels, registers: [registry] }),
    diskReadBytes: new Counter({ name: 'drover_vm_disk_read_bytes_total', help: `Bytes the guest read from its disks${restarts}`, labelNames: vmLabels, registers: [registry] }),
    diskWriteBytes: new Counter({ name: 'drover_vm_disk_write_bytes_total', help: `Bytes the guest wrote to its disks${restarts}`, labelNames: vmLabels, registers: [registry] }),
    netRxBytes: new Counter({ name: 'drover_vm_network_receive_bytes_total', help: `Bytes the guest received${restarts}`, labelNames: vmLabels, registers: [registry] }),
    netTxBytes: new Counter({ name: 'drover_vm_network_transmit_bytes_total', help: `Bytes the guest sent${restarts}`, labelNames: vmLabels, registers: [registry] }),
  };
  const operations = new Gauge({ name: 'drover_operations_active', help: 'Operations queued or running', registers: [registry] });
  const leader = new Gauge({ name: 'drover_controller_leader', help: '1 when this controller holds the leader lease and runs the background work (heartbeats, HA, balancing)', registers: [registry] });
  const counterReadings = new VmCounterReadings();

  app.get('/metrics', {
    schema: { operationId: 'metrics', summary: 'Prometheus metrics for the controller, hosts and VMs', tags: ['system'], response: { 200: Type.String(), ...errorResponses } },
    handler: async (_request, reply) => {
      const hosts = await services.store.hosts.list();
      const vms = await services.store.vms.list();
      const activeOperations = (await services.operations.list({ limit: 1000, states: ['queued', 'running'] })).length;
      const statsByHost = services.hosts.vmStats();
      const hostName = new Map(hosts.map((h) => [h.id, h.name]));
      const pidByName = new Map(vms.map((vm) => [vm.name, vm.runtime.pid]));

      // From here to registry.metrics() nothing awaits, so a concurrent scrape never sees half-filled series.
      for (const metric of [...Object.values(hostGauges), ...Object.values(vmGauges), ...Object.values(vmCounters)]) metric.reset();
      for (const host of hosts) {
        const labels = { host: host.name };
        hostGauges.up.set(labels, host.health === 'healthy' ? 1 : 0);
        hostGauges.cpus.set(labels, host.capacity.cpus);
        hostGauges.memory.set(labels, host.capacity.memoryBytes);
        hostGauges.cpusAllocated.set(labels, host.usage.cpus);
        hostGauges.memoryAllocated.set(labels, host.usage.memoryBytes);
        hostGauges.load.set(labels, services.hosts.lastHostInfo(host.id)?.usage.load1 ?? 0);
      }
      for (const vm of vms) {
        vmGauges.state.set({ vm: vm.name, host: hostName.get(vm.hostId ?? '') ?? '' }, vm.state === 'running' ? 1 : 0);
      }
      for (const [hostId, list] of statsByHost) {
        for (const s of list) vmGauges.rss.set({ vm: s.name, host: hostName.get(hostId) ?? hostId }, s.memoryRssBytes);
      }
      for (const reading of counterReadings.update(statsByHost, (name) => pidByName.get(name))) {
        const labels = { vm: reading.name, host: hostName.get(reading.hostId) ?? reading.hostId };
        // prom-client counters only add: after reset(), one inc() by the host's cumulative figure sets it.
        for (const [field, counter] of Object.entries(vmCounters) as Array<[VmCounterField, Counter<'vm' | 'host'>]>) counter.inc(labels, reading.values[field]);
      }
      operations.set(activeOperations);
      leader.set(services.leadership.isLeader() ? 1 : 0);
      return reply.type(registry.contentType).send(await registry.metrics());
    },
  });
}
