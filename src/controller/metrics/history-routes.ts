import { Type } from '@fastify/type-provider-typebox';
import { Nullable, TimestampSchema, errorResponses } from '../api/schemas.js';
import type { DomainRoutes } from '../api/services.js';
import { VmNameParams } from '../vms/schema.js';
import { MetricsHistory, SERIES_FIELDS, type SeriesField } from './history.js';

const FIELD_DESCRIPTIONS: Record<SeriesField, string> = {
  cpuPercent: 'CPU used by the VM\'s QEMU; 100 is one host core.',
  memoryBytes: 'Resident memory of the VM\'s QEMU.',
  diskReadBytesPerSecond: 'Bytes the guest read from its disks, per second.',
  diskWriteBytesPerSecond: 'Bytes the guest wrote to its disks, per second.',
  networkReceiveBytesPerSecond: 'Bytes the guest received, per second (from the guest agent).',
  networkTransmitBytesPerSecond: 'Bytes the guest sent, per second (from the guest agent).',
};

export const VmMetricsSchema = Type.Object(
  {
    vm: Type.String(),
    retentionSeconds: Type.Integer({ description: 'How far back the controller keeps samples.' }),
    time: Type.Array(Type.Number(), { description: 'When each sample was taken, in ms since the Unix epoch; oldest first.' }),
    ...(Object.fromEntries(SERIES_FIELDS.map((field) => [field, Type.Array(Nullable(Type.Number()), { description: `${FIELD_DESCRIPTIONS[field]} null where no rate could be derived (the first sample, a restart).` })])) as Record<
      SeriesField,
      ReturnType<typeof Type.Array<ReturnType<typeof Nullable<ReturnType<typeof Type.Number>>>>>
    >),
  },
  { additionalProperties: false, description: 'A VM\'s recent usage, one column per figure, sampled on each host heartbeat.' },
);

export const VmMetricsQuery = Type.Object(
  { since: Type.Optional(TimestampSchema) },
  { additionalProperties: false },
);

/**
 * GET /vms/:name/metrics: the last hour of a VM's CPU, memory, disk and network usage. The history
 * samples the hosts' heartbeat figures for as long as these routes are registered.
 */
export const vmMetricsRoutes: DomainRoutes = async (app, { services }) => {
  const history = new MetricsHistory(() => services.hosts.vmStats());
  history.start();
  app.addHook('onClose', async () => history.stop());

  app.get('/vms/:name/metrics', {
    schema: {
      operationId: 'getVmMetrics',
      summary: 'A VM\'s CPU, memory, disk and network usage over the last hour (samples after `since`)',
      tags: ['vms'],
      params: VmNameParams,
      querystring: VmMetricsQuery,
      response: { 200: VmMetricsSchema, ...errorResponses },
    },
    handler: async (request) => {
      const vm = await services.vms.get(request.params.name);
      const since = request.query.since ? Date.parse(request.query.since) : undefined;
      return { vm: vm.name, retentionSeconds: Math.round(history.retention / 1000), ...history.read(vm.name, since) };
    },
  });
};
