/**
 * The live event stream over the controller's WebSocket (/api/v1/events/ws): parsed events in
 * order, reconnecting with backoff and resuming after the last event seen, so none is missed.
 */
import type { DroverApi } from './client';
import { parseEvent, type DroverEvent } from './types';

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface EventStreamHandlers {
  onEvent: (event: DroverEvent) => void;
  onStatus?: (status: StreamStatus) => void;
  /** A reconnect had to resume: events may have been replayed (or, after a long gap, many). */
  onResumed?: () => void;
  /** Connecting failed; the caller may check the token (a WebSocket cannot see the 401). */
  onConnectFailed?: () => void;
}

const MAX_BACKOFF_MS = 10_000;

/** Follows every event from now on until `close()`. */
export class EventStream {
  private socket: WebSocket | undefined;
  private lastId: number | undefined;
  private attempts = 0;
  private timer: number | undefined;
  private closed = false;

  constructor(
    private readonly api: DroverApi,
    private readonly handlers: EventStreamHandlers,
  ) {}

  start(): void {
    this.closed = false;
    this.attempts = 0;
    this.connect();
  }

  close(): void {
    this.closed = true;
    window.clearTimeout(this.timer);
    this.socket?.close();
    this.handlers.onStatus?.('closed');
  }

  private connect(): void {
    if (this.closed) return;
    this.handlers.onStatus?.(this.attempts === 0 ? 'connecting' : 'reconnecting');
    const resume = this.lastId;
    const socket = this.api.openSocket(`/events/ws${resume !== undefined ? `?afterId=${resume}` : ''}`);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.attempts = 0;
      this.handlers.onStatus?.('live');
      if (resume !== undefined) this.handlers.onResumed?.();
    };
    socket.onmessage = (message) => {
      if (typeof message.data !== 'string') return;
      let event: DroverEvent;
      try {
        event = parseEvent(JSON.parse(message.data), 'event');
      } catch {
        // One event this console cannot read must not stop the others.
        return;
      }
      this.lastId = event.id;
      this.handlers.onEvent(event);
    };
    socket.onclose = () => {
      if (this.closed) return;
      if (!opened) this.handlers.onConnectFailed?.();
      this.attempts++;
      this.handlers.onStatus?.('reconnecting');
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(this.attempts, 5));
      this.timer = window.setTimeout(() => this.connect(), delay);
    };
  }
}
