/**
 * The messages between the scale benchmark (scale/measure.ts) and its controller process (scale/controller.ts). The
 * simulated hosts' process is the HA benchmark's (ha/lease-worker.ts, ha/lease-protocol.ts). Every request carries an
 * `id`; the child answers with the same `id` (ha/child.ts).
 */
import type { SimulatedLeaseHost } from '../ha/lease-protocol.js';

/** Requests to the controller process. */
export type ScaleControllerRequest =
  | {
      id: number;
      kind: 'start';
      /** `sqlite:PATH` or `postgresql://...`. */
      store: string;
      hosts: SimulatedLeaseHost[];
      vms: number;
      agentBaseUrl: string;
    }
  | { id: number; kind: 'start-ha'; stepMs: number }
  | { id: number; kind: 'cpu' }
  | { id: number; kind: 'stop' };

/** What `start` answers. */
export interface ScaleControllerStarted {
  url: string;
  token: string;
  pid: number;
  /** Wall-clock ms of writing the hosts and VMs into the store. */
  seedMs: number;
  /** The names of the VMs written, in no particular order, for the GET /vms/:name samples. */
  vmNames: string[];
  [key: string]: unknown;
}
