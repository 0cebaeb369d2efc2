/**
 * The live picture of every host and VM that all pages share. Loaded once, then kept current by
 * the event stream: an event marks its VM and host as changed, and changed objects are re-read
 * one by one (GET /vms/:name, GET /hosts/:name) in a batch shortly after, never the whole fleet
 * per event. Host heartbeat times, which change without events, are re-read every 15 s, and a
 * host's usage once more a heartbeat after an event about one of its VMs.
 */
import { useSyncExternalStore } from 'react';
import { ApiError, EventStream, type DroverApi, type DroverEvent, type Host, type StreamStatus, type Vm } from '../api';

export interface FleetState {
  vms: ReadonlyMap<string, Vm>;
  /** By name. */
  hosts: ReadonlyMap<string, Host>;
  loaded: boolean;
  error: ApiError | null;
  stream: StreamStatus;
  /** When the state last changed (ms), for "updated … ago". */
  updatedAt: number;
}

/** Changes are gathered this long after the first one before they are fetched. */
const BATCH_MS = 80;
/** More changed VMs than this in one batch re-read the whole list instead (one request, not hundreds). */
const MAX_SINGLE_READS = 25;
const HOST_REFRESH_MS = 15_000;
/** Longer than a heartbeat (2 s): by then a host reports the usage a VM change left it with. */
const HEARTBEAT_SETTLE_MS = 3_000;
/** If the stream is not up by then, load anyway (and rely on reconnects for live changes). */
const STREAM_WAIT_MS = 1_500;

export class Fleet {
  private state: FleetState = { vms: new Map(), hosts: new Map(), loaded: false, error: null, stream: 'connecting', updatedAt: Date.now() };
  private readonly listeners = new Set<() => void>();
  private readonly eventListeners = new Set<(event: DroverEvent) => void>();
  private readonly changedVms = new Set<string>();
  private readonly changedHostIds = new Set<string>();
  private fullVmReload = false;
  private fullHostReload = false;
  private batchTimer: number | undefined;
  private running: Promise<void> | undefined;
  private hostTimer: number | undefined;
  private readonly lateHostIds = new Set<string>();
  private lateFullHostReload = false;
  private lateTimer: number | undefined;
  private loadStarted = false;
  private readonly stream: EventStream;

  constructor(private readonly api: DroverApi) {
    this.stream = new EventStream(api, {
      onEvent: (event) => this.handleEvent(event),
      onStatus: (stream) => {
        this.set({ stream });
        if (stream === 'live') this.load();
      },
      // After a gap, replayed events mark what changed; a full reload makes sure nothing was lost.
      onResumed: () => {
        this.fullVmReload = this.fullHostReload = true;
        this.schedule();
      },
      // A WebSocket cannot show its 401: ask the REST API, which signs the session out if the token is gone.
      onConnectFailed: () => void this.api.checkToken().catch(() => undefined),
    });
  }

  start(): void {
    this.stream.start();
    window.setTimeout(() => this.load(), STREAM_WAIT_MS);
    this.hostTimer = window.setInterval(() => {
      if (document.visibilityState === 'visible' && this.state.loaded) {
        this.fullHostReload = true;
        this.schedule();
      }
    }, HOST_REFRESH_MS);
  }

  stop(): void {
    this.stream.close();
    window.clearInterval(this.hostTimer);
    window.clearTimeout(this.lateTimer);
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getState = (): FleetState => this.state;

  /** Calls `listener` with every event as it arrives; returns the unsubscribe function. */
  onEvent(listener: (event: DroverEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Re-reads one VM soon (after an action of our own, say). */
  refreshVm(name: string): void {
    this.changedVms.add(name);
    this.schedule();
  }

  /** Re-reads every host soon (after an action of our own on one). */
  refreshHosts(): void {
    this.fullHostReload = true;
    this.schedule();
  }

  /** Host name for a host id, if known. */
  hostName(id: string | null): string | undefined {
    if (!id) return undefined;
    for (const host of this.state.hosts.values()) if (host.id === id) return host.name;
    return undefined;
  }

  private load(): void {
    if (this.loadStarted) return;
    this.loadStarted = true;
    this.fullVmReload = this.fullHostReload = true;
    this.run();
  }

  private handleEvent(event: DroverEvent): void {
    if (event.object.type === 'vm' && event.object.name) this.changedVms.add(event.object.name);
    if (event.object.type === 'host' && event.object.id) this.changedHostIds.add(event.object.id);
    if (event.hostId) this.changedHostIds.add(event.hostId);
    // A move changes two hosts' VM counts and usage, and names only the destination.
    if (event.action === 'vm.migrate' && event.result === 'success') this.fullHostReload = true;
    // A host's usage follows its VMs at its next heartbeat, which sends no event: read it again then.
    if (event.object.type === 'vm' && event.hostId) this.readHostLater(event.hostId, event.action === 'vm.migrate');
    this.schedule();
    for (const listener of this.eventListeners) listener(event);
  }

  /** Re-reads a host (or every host) once its next heartbeat has reported the new usage; one timer for all. */
  private readHostLater(hostId: string, everyHost: boolean): void {
    this.lateHostIds.add(hostId);
    if (everyHost) this.lateFullHostReload = true;
    if (this.lateTimer !== undefined) return;
    this.lateTimer = window.setTimeout(() => {
      this.lateTimer = undefined;
      for (const id of this.lateHostIds) this.changedHostIds.add(id);
      if (this.lateFullHostReload) this.fullHostReload = true;
      this.lateHostIds.clear();
      this.lateFullHostReload = false;
      this.schedule();
    }, HEARTBEAT_SETTLE_MS);
  }

  private schedule(): void {
    if (this.batchTimer !== undefined || !this.loadStarted) return;
    this.batchTimer = window.setTimeout(() => {
      this.batchTimer = undefined;
      this.run();
    }, BATCH_MS);
  }

  /** Runs batches one after another, so an older answer never overwrites a newer one. */
  private run(): void {
    if (this.running) return;
    this.running = this.batch()
      .catch((err: unknown) => this.set({ error: err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err)) }))
      .finally(() => {
        this.running = undefined;
        if (this.changedVms.size > 0 || this.changedHostIds.size > 0 || this.fullVmReload || this.fullHostReload) this.schedule();
      });
  }

  private async batch(): Promise<void> {
    const names = [...this.changedVms];
    const hostIds = [...this.changedHostIds];
    const fullVms = this.fullVmReload || names.length > MAX_SINGLE_READS;
    let fullHosts = this.fullHostReload;
    this.changedVms.clear();
    this.changedHostIds.clear();
    this.fullVmReload = this.fullHostReload = false;

    const known = new Map([...this.state.hosts.values()].map((h) => [h.id, h.name]));
    const hostNames = hostIds.map((id) => known.get(id));
    if (hostNames.some((n) => n === undefined) || hostNames.length > MAX_SINGLE_READS) fullHosts = true;

    const first = !this.state.loaded;
    if (first) performance.mark('drover:fleet-requested');
    const [vmUpdate, hostUpdate] = await Promise.all([
      fullVms ? this.api.listVms().then((list) => ({ full: list })) : Promise.all(names.map((name) => this.readVm(name))).then((pairs) => ({ some: pairs })),
      fullHosts ? this.api.listHosts().then((list) => ({ full: list })) : Promise.all((hostNames as string[]).map((name) => this.readHost(name))).then((pairs) => ({ some: pairs })),
    ]);

    if (first) performance.mark('drover:fleet-received');
    const patch: Partial<FleetState> = { loaded: true, error: null };
    if ('full' in vmUpdate) patch.vms = new Map(vmUpdate.full.map((vm) => [vm.name, vm]));
    else if (vmUpdate.some.length > 0) {
      const vms = new Map(this.state.vms);
      for (const [name, vm] of vmUpdate.some) {
        if (vm) vms.set(name, vm);
        else vms.delete(name);
      }
      patch.vms = vms;
    }
    if ('full' in hostUpdate) patch.hosts = new Map(hostUpdate.full.map((host) => [host.name, host]));
    else if (hostUpdate.some.length > 0) {
      const hosts = new Map(this.state.hosts);
      for (const [name, host] of hostUpdate.some) {
        if (host) hosts.set(name, host);
        else hosts.delete(name);
      }
      patch.hosts = hosts;
    }
    this.set(patch);
  }

  /** The VM, or null once it is gone. */
  private async readVm(name: string): Promise<[string, Vm | null]> {
    try {
      return [name, await this.api.getVm(name)];
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return [name, null];
      throw err;
    }
  }

  private async readHost(name: string): Promise<[string, Host | null]> {
    try {
      return [name, await this.api.getHost(name)];
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return [name, null];
      throw err;
    }
  }

  private set(patch: Partial<FleetState>): void {
    this.state = { ...this.state, ...patch, updatedAt: Date.now() };
    for (const listener of this.listeners) listener();
  }
}

/** The fleet's state, re-rendering on every change. */
export function useFleet(fleet: Fleet): FleetState {
  return useSyncExternalStore(fleet.subscribe, fleet.getState);
}
