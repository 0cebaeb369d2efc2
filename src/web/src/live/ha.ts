/**
 * HA's view of the cluster (GET /ha/status), shared by the pages that show it and read only while
 * one does. It is read when a page starts watching, shortly after any event that may change it (a
 * host's liveness, a failover step, a VM's HA policy, the admission setting), and every few
 * seconds for what changes without events: lease and storage heartbeat ages. Each watching page
 * names how often it needs that; the shortest interval wins.
 */
import { useEffect, useSyncExternalStore } from 'react';
import { asApiError, type ApiError, type DroverApi, type DroverEvent, type HaStatus } from '../api';
import type { Fleet } from './fleet';

export interface HaView {
  /** null until the first answer. */
  status: HaStatus | null;
  /** The last read's failure; cleared by the next answer. */
  error: ApiError | null;
}

/** Events gathered this long before one read follows them all (a host failure brings a burst). */
const EVENT_BATCH_MS = 150;

/** The host events HA records when it judges a host or acts on one, and the fence device's changes. */
const HOST_HA_ACTIONS = new Set([
  'host.ok',
  'host.suspect',
  'host.isolated',
  'host.failed',
  'host.fenced',
  'host.confirmed-down',
  'host.confirm-down',
  'host.confirm-down-refused',
  'host.fence-failed',
  'host.fence-set',
  'host.fence-removed',
  'host.join',
  'host.removed',
]);

/** Whether `event` may change what GET /ha/status answers. */
export function changesHaStatus(event: DroverEvent): boolean {
  const { action } = event;
  return HOST_HA_ACTIONS.has(action) || action.startsWith('vm.ha-') || action === 'vm.lost' || action === 'cluster.policy-changed';
}

export class HaMonitor {
  private state: HaView = { status: null, error: null };
  private readonly listeners = new Set<() => void>();
  /** Each watcher's interval, by the token its `watch` call made. */
  private readonly watchers = new Map<object, number>();
  private pollTimer: number | undefined;
  private pollMs: number | undefined;
  private batchTimer: number | undefined;
  private stopEvents: (() => void) | undefined;
  private reading = false;
  private readAgain = false;

  constructor(
    private readonly api: DroverApi,
    private readonly fleet: Fleet,
  ) {}

  /** Keeps the status current, read at least every `everyMs` while the page is visible, until the returned function runs. */
  watch(everyMs: number): () => void {
    const token = {};
    this.watchers.set(token, everyMs);
    if (this.watchers.size === 1) this.stopEvents = this.fleet.onEvent((event) => void (changesHaStatus(event) && this.refreshSoon()));
    this.repoll();
    this.refresh();
    return () => {
      this.watchers.delete(token);
      if (this.watchers.size === 0) this.stop();
      else this.repoll();
    };
  }

  /** Stops every timer and the event subscription (the session ends). */
  stop(): void {
    this.watchers.clear();
    this.stopEvents?.();
    this.stopEvents = undefined;
    window.clearInterval(this.pollTimer);
    window.clearTimeout(this.batchTimer);
    this.pollTimer = this.pollMs = this.batchTimer = undefined;
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getState = (): HaView => this.state;

  /** Reads the status now; a call while a read runs reads once more after it, so an older answer never wins. */
  refresh(): void {
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    this.api.haStatus().then(
      (status) => this.set({ status, error: null }),
      (err: unknown) => this.set({ ...this.state, error: asApiError(err) }),
    ).finally(() => {
      this.reading = false;
      const again = this.readAgain && this.watchers.size > 0;
      this.readAgain = false;
      if (again) this.refresh();
    });
  }

  private refreshSoon(): void {
    if (this.batchTimer !== undefined) return;
    this.batchTimer = window.setTimeout(() => {
      this.batchTimer = undefined;
      this.refresh();
    }, EVENT_BATCH_MS);
  }

  /** One interval timer at the shortest interval any watcher asked for. */
  private repoll(): void {
    const everyMs = Math.min(...this.watchers.values());
    if (everyMs === this.pollMs) return;
    window.clearInterval(this.pollTimer);
    this.pollMs = everyMs;
    this.pollTimer = window.setInterval(() => {
      if (document.visibilityState === 'visible') this.refresh();
    }, everyMs);
  }

  private set(state: HaView): void {
    this.state = state;
    for (const listener of this.listeners) listener();
  }
}

/** HA's status as last read, re-rendering on every answer; it is read only while some component watches it (useHaWatch). */
export function useHaView(monitor: HaMonitor): HaView {
  return useSyncExternalStore(monitor.subscribe, monitor.getState);
}

/** Keeps HA's status current, read every `everyMs` at least, while the component is mounted and `enabled`. */
export function useHaWatch(monitor: HaMonitor, everyMs: number, enabled = true): void {
  useEffect(() => (enabled ? monitor.watch(everyMs) : undefined), [monitor, everyMs, enabled]);
}

/** HA's status, kept current (read every `everyMs` at least) while the component is mounted. */
export function useHaStatus(monitor: HaMonitor, everyMs: number): HaView {
  useHaWatch(monitor, everyMs);
  return useHaView(monitor);
}
