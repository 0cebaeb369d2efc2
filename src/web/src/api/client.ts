/**
 * The console's only way to the controller: the public REST API under /api/v1 and its WebSockets.
 * Every answer is parsed into a typed shape here; every failure becomes an ApiError carrying the
 * API's coded error (code, message for a person, detail behind it).
 */
import { ParseError, type Parser } from './parse';
import {
  parseBalanceRun,
  parseBalanceSchedule,
  parseClusterPolicy,
  parseConfirmDown,
  parseControllerList,
  parseErrorBody,
  parseNetwork,
  parseNetworkList,
  parseEventList,
  parseHaStatus,
  parseHost,
  parseHostList,
  parseImageList,
  parseMaintenanceEntry,
  parseMigrationTargetList,
  parsePlacementHistory,
  parseOperation,
  parseOperationAccepted,
  parseOperationList,
  parseSnapshotList,
  parseVm,
  parseVmAccepted,
  parseVmList,
  parseVmMetrics,
  type BalancePlan,
  type BalanceSchedule,
  type ClusterPolicy,
  type ControllerEndpoint,
  type CreateNetworkRequest,
  type CreateVmRequest,
  type Network,
  type DroverEvent,
  type EventQuery,
  type HaPolicyChange,
  type HaStatus,
  type Host,
  type Image,
  type MaintenanceEntry,
  type MigrateVmRequest,
  type MigrationTarget,
  type Placement,
  type Operation,
  type OperationState,
  type Snapshot,
  type Vm,
  type VmLimitsChange,
  type VmMetrics,
} from './types';

export const API_PREFIX = '/api/v1';

/** A failed request: the API's coded error, or NETWORK / BAD_RESPONSE made up here. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: string,
    readonly field?: string,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Any failure as an ApiError, so every page shows it the same way. */
export function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err));
}

/** Actions answered with an operation and the VM (POST /vms/:name/<action>). */
export type VmAction = 'start' | 'kill' | 'reboot' | 'pause' | 'resume';

/** A long action the controller accepted: the operation to follow, and the VM as it is now. */
export interface Accepted {
  operation: Operation;
  vm?: Vm;
}

/** The WebSocket subprotocols the controller accepts a token in (browsers cannot set headers on a WebSocket). */
export function socketProtocols(token: string): string[] {
  return ['drover', `drover.token.${token}`];
}

/** ws:// or wss:// URL of an API path on this origin. */
export function socketUrl(path: string): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}${API_PREFIX}${path}`;
}

const enc = encodeURIComponent;

function query(params: Record<string, string | number | boolean | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string | number | boolean] => e[1] !== undefined && e[1] !== '');
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}`;
}

/** A client for one signed-in session. `onUnauthorized` runs when the controller refuses the token (401). */
export class DroverApi {
  private unreachable = false;
  private readonly reachabilityListeners = new Set<() => void>();

  constructor(
    readonly token: string,
    private readonly onUnauthorized: (error: ApiError) => void = () => undefined,
  ) {}

  /** False from a request that could not reach the controller until one that does. */
  get reachable(): boolean {
    return !this.unreachable;
  }

  /** Calls `listener` whenever `reachable` changes; returns the unsubscribe (the shape useSyncExternalStore takes). */
  readonly subscribeReachability = (listener: () => void): (() => void) => {
    this.reachabilityListeners.add(listener);
    return () => void this.reachabilityListeners.delete(listener);
  };

  private setReachable(reachable: boolean): void {
    if (this.unreachable === !reachable) return;
    this.unreachable = !reachable;
    for (const listener of this.reachabilityListeners) listener();
  }

  /** Sends a request and parses the JSON answer; throws ApiError. */
  async request<T>(method: string, path: string, parser: Parser<T>, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${API_PREFIX}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      this.setReachable(false);
      throw new ApiError(0, 'NETWORK', 'The controller cannot be reached. Check that Drover is running, then retry.', (err as Error).message);
    }
    this.setReachable(true);
    const requestId = response.headers.get('x-request-id') ?? undefined;
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const error = toApiError(response.status, json, text, requestId);
      if (response.status === 401) this.onUnauthorized(error);
      throw error;
    }
    try {
      return parser(json, 'response');
    } catch (err) {
      if (err instanceof ParseError) throw new ApiError(response.status, 'BAD_RESPONSE', 'The controller answered something this console does not understand; is it a different Drover version?', `${method} ${path}: ${err.message}`, undefined, requestId);
      throw err;
    }
  }

  /** The controllers serving the cluster (GET /cluster/controllers), read at start so the console knows where to turn if this one stops answering. */
  listControllers(): Promise<ControllerEndpoint[]> {
    return this.request('GET', '/cluster/controllers', parseControllerList).then((r) => r.controllers);
  }

  // Sign-in: any authenticated read proves the token; the host list is small.
  async checkToken(): Promise<void> {
    await this.listHosts();
  }

  listVms(): Promise<Vm[]> {
    return this.request('GET', '/vms', parseVmList).then((r) => r.vms);
  }

  getVm(name: string): Promise<Vm> {
    return this.request('GET', `/vms/${enc(name)}`, parseVm);
  }

  createVm(body: CreateVmRequest): Promise<Accepted> {
    return this.request('POST', '/vms', parseVmAccepted, body);
  }

  vmAction(name: string, action: VmAction): Promise<Accepted> {
    return this.request('POST', `/vms/${enc(name)}/${action}`, parseVmAccepted);
  }

  /** ACPI shutdown, forced after `timeoutMs` (the controller's default when absent). */
  stopVm(name: string, timeoutMs?: number): Promise<Accepted> {
    return this.request('POST', `/vms/${enc(name)}/stop${query({ timeoutMs })}`, parseVmAccepted);
  }

  deleteVm(name: string, force: boolean): Promise<Accepted> {
    return this.request('DELETE', `/vms/${enc(name)}${query({ force: force || undefined })}`, parseVmAccepted);
  }

  cloneVm(name: string, newName: string, mode: 'linked' | 'full'): Promise<Accepted> {
    return this.request('POST', `/vms/${enc(name)}/clone`, parseVmAccepted, { name: newName, mode });
  }

  /** Changes the VM's CPU cap, memory or (containers) process limit, live where its driver can (202: follow the operation). */
  setVmLimits(name: string, change: VmLimitsChange): Promise<Accepted> {
    return this.request('PATCH', `/vms/${enc(name)}/limits`, parseVmAccepted, change);
  }

  snapshots(name: string): Promise<Snapshot[]> {
    return this.request('GET', `/vms/${enc(name)}/snapshots`, parseSnapshotList).then((r) => r.snapshots);
  }

  createSnapshot(name: string, snapshot: string): Promise<Accepted> {
    return this.request('POST', `/vms/${enc(name)}/snapshots`, parseOperationAccepted, { name: snapshot });
  }

  revertSnapshot(name: string, snapshot: string): Promise<Accepted> {
    return this.request('POST', `/vms/${enc(name)}/snapshots/${enc(snapshot)}/revert`, parseOperationAccepted);
  }

  deleteSnapshot(name: string, snapshot: string): Promise<Accepted> {
    return this.request('DELETE', `/vms/${enc(name)}/snapshots/${enc(snapshot)}`, parseOperationAccepted);
  }

  /**
   * Every other host judged as a target for migrating the VM, or null when this controller does not
   * offer the judgement yet (no such route: 404 NOT_FOUND), so the caller can judge from the host list.
   */
  async migrationTargets(name: string): Promise<MigrationTarget[] | null> {
    try {
      return (await this.request('GET', `/vms/${enc(name)}/migration-targets`, parseMigrationTargetList)).items;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && err.code === 'NOT_FOUND') return null;
      throw err;
    }
  }

  /** Live-migrates a running VM (202: follow the operation). */
  migrateVm(name: string, body: MigrateVmRequest): Promise<Accepted> {
    return this.request('POST', `/vms/${enc(name)}/migrate`, parseVmAccepted, body);
  }

  /** The hosts the VM has been on, newest first. */
  vmHistory(name: string): Promise<Placement[]> {
    return this.request('GET', `/vms/${enc(name)}/history`, parsePlacementHistory).then((r) => r.placements);
  }

  /** Maintenance: `dryRun` only reports the plan; otherwise the host enters maintenance and an evacuate operation starts. */
  enterMaintenance(host: string, options: { dryRun?: boolean; force?: boolean }): Promise<MaintenanceEntry> {
    return this.request('POST', `/hosts/${enc(host)}/maintenance/enter`, parseMaintenanceEntry, options);
  }

  /** Returns a host in maintenance to ready. */
  exitMaintenance(host: string): Promise<Host> {
    return this.request('POST', `/hosts/${enc(host)}/maintenance/exit`, parseHost);
  }

  /** The VM's usage samples after `since` (ms since the epoch). */
  vmMetrics(name: string, since?: number): Promise<VmMetrics> {
    return this.request('GET', `/vms/${enc(name)}/metrics${query({ since: since === undefined ? undefined : new Date(since).toISOString() })}`, parseVmMetrics);
  }

  listHosts(): Promise<Host[]> {
    return this.request('GET', '/hosts', parseHostList).then((r) => r.hosts);
  }

  getHost(name: string): Promise<Host> {
    return this.request('GET', `/hosts/${enc(name)}`, parseHost);
  }

  listImages(): Promise<Image[]> {
    return this.request('GET', '/images', parseImageList).then((r) => r.images);
  }

  listNetworks(): Promise<Network[]> {
    return this.request('GET', '/networks', parseNetworkList).then((r) => r.networks);
  }

  /** Defines a virtual network (201); the controller assigns the VNI when none is given. */
  createNetwork(body: CreateNetworkRequest): Promise<Network> {
    return this.request('POST', '/networks', parseNetwork, body);
  }

  /** Deletes a network no VM uses (VIRTUAL_NETWORK_IN_USE otherwise). */
  async deleteNetwork(name: string): Promise<void> {
    await this.request('DELETE', `/networks/${enc(name)}`, () => undefined);
  }

  /** Switches HA on with `policy` (fields left out keep their value), or off with null; answers the VM. HA_DISK_NOT_SHARED and the like when it cannot be protected. */
  updateVmHa(name: string, policy: HaPolicyChange | null): Promise<Vm> {
    return this.request('PATCH', `/vms/${enc(name)}`, parseVm, { ha: policy });
  }

  /** HA's view: hosts' liveness, leases and fencing, the protected VMs and failovers, admission, timings. */
  haStatus(): Promise<HaStatus> {
    return this.request('GET', '/ha/status', parseHaStatus);
  }

  /** States that a host is powered off, so HA may restart its VMs elsewhere; HA_HOST_NOT_DOWN while it renews its lease or writes its storage heartbeat. */
  async confirmHostDown(host: string): Promise<void> {
    await this.request('POST', `/hosts/${enc(host)}/confirm-down`, parseConfirmDown);
  }

  getClusterPolicy(): Promise<ClusterPolicy> {
    return this.request('GET', '/cluster/policy', parseClusterPolicy);
  }

  /** Changes the settings given; answers the whole policy as stored. */
  setClusterPolicy(change: Partial<ClusterPolicy>): Promise<ClusterPolicy> {
    return this.request('PUT', '/cluster/policy', parseClusterPolicy, change);
  }

  /** The balancing plan for the cluster as it is now (a dry run: nothing moves). */
  planBalance(threshold?: number): Promise<BalancePlan> {
    return this.request('POST', '/balance', parseBalanceRun, { dryRun: true, ...(threshold !== undefined ? { threshold } : {}) }).then((r) => r.plan);
  }

  /** Plans again and starts the balance operation (202); BALANCE_BUSY while one runs. */
  async runBalance(threshold?: number): Promise<{ plan: BalancePlan; operation: Operation }> {
    const run = await this.request('POST', '/balance', parseBalanceRun, threshold !== undefined ? { threshold } : {});
    if (!run.operation) throw new ApiError(202, 'BAD_RESPONSE', 'The controller accepted the balancing run but named no operation to follow.', 'POST /balance answered operation: null');
    return { plan: run.plan, operation: run.operation };
  }

  getBalanceSchedule(): Promise<BalanceSchedule> {
    return this.request('GET', '/balance/schedule', parseBalanceSchedule);
  }

  /** Changes the fields given; answers the whole schedule. */
  setBalanceSchedule(change: Partial<BalanceSchedule>): Promise<BalanceSchedule> {
    return this.request('PUT', '/balance/schedule', parseBalanceSchedule, change);
  }

  queryEvents(filter: EventQuery): Promise<DroverEvent[]> {
    return this.request('GET', `/events${query({ ...filter })}`, parseEventList).then((r) => r.events);
  }

  listOperations(filter: { state?: OperationState; targetType?: string; targetId?: string; limit?: number } = {}): Promise<Operation[]> {
    return this.request('GET', `/operations${query(filter)}`, parseOperationList).then((r) => r.operations);
  }

  getOperation(id: string): Promise<Operation> {
    return this.request('GET', `/operations/${enc(id)}`, parseOperation);
  }

  cancelOperation(id: string): Promise<Operation> {
    return this.request('POST', `/operations/${enc(id)}/cancel`, parseOperation);
  }

  /** Opens a WebSocket on an API path (events, serial console), carrying the token. */
  openSocket(path: string): WebSocket {
    const socket = new WebSocket(socketUrl(path), socketProtocols(this.token));
    socket.binaryType = 'arraybuffer';
    return socket;
  }

  /** URL and subprotocols of the VM's VNC WebSocket, for noVNC. */
  vncTarget(name: string): { url: string; protocols: string[] } {
    return { url: socketUrl(`/vms/${enc(name)}/vnc`), protocols: socketProtocols(this.token) };
  }
}

function toApiError(status: number, json: unknown, text: string, requestId: string | undefined): ApiError {
  try {
    const body = parseErrorBody(json, 'error');
    return new ApiError(status, body.code, body.message, body.detail, body.field, requestId);
  } catch {
    return new ApiError(status, 'BAD_RESPONSE', `The controller answered ${status} without a coded error.`, text.slice(0, 500), undefined, requestId);
  }
}
