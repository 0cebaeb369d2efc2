import { Type } from '@fastify/type-provider-typebox';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { errorResponses } from '../api/schemas.js';
import type { ControllerApp } from '../api/app.js';
import type { ControllerServices } from '../api/services.js';

/** GET /metrics: Prometheus text with controller, host and VM figures (bearer token required, like every route). */
export function installMetrics(app: ControllerApp, services: ControllerServices): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'drover_controller_' });
  const requests = new Counter({ name: 'drover_api_requests_total', help: 'API requests by method and status', labelNames: ['method', 'status'], registers: [registry] });
  app.addHook('onResponse', async (request, reply) => requests.inc({ method: request.method, status: String(reply.statusCode) }));

  const hostLabels = ['host'] as const;
  const vmLabels = ['vm', 'host'] as const;
  const hostGauges = {
    up: new Gauge({ name: 'drover_host_up', help: '1 when the host agent answers heartbeats', labelNames: hostLabels, registers: [registry] }),
    cpus: new Gauge({ name: 'drover_host_cpus', help: 'Host CPUs', labelNames: hostLabels, registers: [registry] }),
    memory: new Gauge({ name: 'drover_host_memory_bytes', help: 'Host memory', labelNames: hostLabels, registers: [registry] }),
    cpusAllocated: new Gauge({ name: 'drover_host_cpus_allocated', help: 'vCPUs of running VMs', labelNames: hostLabels, registers: [registry] }),
    memoryAllocated: new Gauge({ name: 'drover_host_memory_allocated_bytes', help: 'Memory of running VMs', labelNames: hostLabels, registers: [registry] }),
    load: new Gauge({ name: 'drover_host_load1', help: 'Host one-minute load average', labelNames: hostLabels, registers: [registry] }),
  };
  const vmGauges = {
    state: new Gauge({ name: 'drover_vm_running', help: '1 when the VM runs', labelNames: vmLabels, registers: [registry] }),
    cpu: new Gauge({ name: 'drover_vm_cpu_seconds_total', help: 'CPU time used by the VM\'s QEMU', labelNames: vmLabels, registers: [registry] }),
    rss: new Gauge({ name: 'drover_vm_memory_rss_bytes', help: 'Resident memory of the VM\'s QEMU', labelNames: vmLabels, registers: [registry] }),
    diskRead: new Gauge({ name: 'drover_vm_disk_read_bytes_total', help: 'Bytes the guest read from its disks', labelNames: vmLabels, registers: [registry] }),
    diskWrite: new Gauge({ name: 'drover_vm_disk_write_bytes_total', help: 'Bytes the guest wrote to its disks', labelNames: vmLabels, registers: [registry] }),
    netRx: new Gauge({ name: 'drover_vm_network_receive_bytes_total', help: 'Bytes the guest received', labelNames: vmLabels, registers: [registry] }),
    netTx: new Gauge({ name: 'drover_vm_network_transmit_bytes_total', help: 'Bytes the guest sent', labelNames: vmLabels, registers: [registry] }),
  };
  const operations = new Gauge({ name: 'drover_operations_active', help: 'Operations queued or running', registers: [registry] });

  app.get('/metrics', {
    schema: { operationId: 'metrics', summary: 'Prometheus metrics for the controller, hosts and VMs', tags: ['system'], response: { 200: Type.String(), ...errorResponses } },
    handler: async (_request, reply) => {
      for (const gauge of [...Object.values(hostGauges), ...Object.values(vmGauges)]) gauge.reset();
      const hosts = await services.store.hosts.list();
      for (const host of hosts) {
        const labels = { host: host.name };
        hostGauges.up.set(labels, host.health === 'healthy' ? 1 : 0);
        hostGauges.cpus.set(labels, host.capacity.cpus);
        hostGauges.memory.set(labels, host.capacity.memoryBytes);
        hostGauges.cpusAllocated.set(labels, host.usage.cpus);
        hostGauges.memoryAllocated.set(labels, host.usage.memoryBytes);
        hostGauges.load.set(labels, services.hosts.lastHostInfo(host.id)?.usage.load1 ?? 0);
      }
      const hostName = new Map(hosts.map((h) => [h.id, h.name]));
      for (const vm of await services.store.vms.list()) {
        vmGauges.state.set({ vm: vm.name, host: hostName.get(vm.hostId ?? '') ?? '' }, vm.state === 'running' ? 1 : 0);
      }
      for (const [hostId, list] of services.hosts.vmStats()) {
        for (const s of list) {
          const labels = { vm: s.name, host: hostName.get(hostId) ?? hostId };
          vmGauges.cpu.set(labels, s.cpuSeconds);
          vmGauges.rss.set(labels, s.memoryRssBytes);
          vmGauges.diskRead.set(labels, s.diskReadBytes);
          vmGauges.diskWrite.set(labels, s.diskWriteBytes);
          vmGauges.netRx.set(labels, s.netRxBytes);
          vmGauges.netTx.set(labels, s.netTxBytes);
        }
      }
      operations.set((await services.operations.list({ limit: 1000, states: ['queued', 'running'] })).length);
      return reply.type(registry.contentType).send(await registry.metrics());
    },
  });
}
