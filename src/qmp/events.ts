/**
 * Typed QMP events, checked against the schema QEMU 7.2 reports through `query-qmp-schema`.
 * Events without data (STOP, RESUME, POWERDOWN...) arrive without a `data` key; the client hands them `{}`.
 */
import type { JobStatus, MigrationStatus } from './commands.js';

export type ShutdownCause =
  | 'none' | 'host-error' | 'host-qmp-quit' | 'host-qmp-system-reset' | 'host-signal' | 'host-ui'
  | 'guest-shutdown' | 'guest-reset' | 'guest-panic' | 'subsystem-reset' | 'snapshot-load';

export type JobType =
  | 'commit' | 'stream' | 'mirror' | 'backup' | 'create' | 'amend'
  | 'snapshot-load' | 'snapshot-save' | 'snapshot-delete';

export interface BlockJobEventData {
  type: JobType;
  device: string;
  len: number;
  offset: number;
  speed: number;
}

type NoData = Record<string, never>;

/** Event name → its `data` payload. */
export interface QmpEvents {
  SHUTDOWN: { guest: boolean; reason: ShutdownCause };
  POWERDOWN: NoData;
  RESET: { guest: boolean; reason: ShutdownCause };
  STOP: NoData;
  RESUME: NoData;
  SUSPEND: NoData;
  WAKEUP: NoData;
  WATCHDOG: { action: 'reset' | 'shutdown' | 'poweroff' | 'pause' | 'debug' | 'none' | 'inject-nmi' };
  GUEST_PANICKED: { action: 'pause' | 'poweroff' | 'run'; info?: { type: 'hyper-v' | 's390'; [field: string]: unknown } };
  BLOCK_JOB_COMPLETED: BlockJobEventData & { error?: string };
  BLOCK_JOB_CANCELLED: BlockJobEventData;
  BLOCK_JOB_READY: BlockJobEventData;
  BLOCK_JOB_ERROR: { device: string; operation: 'read' | 'write'; action: 'ignore' | 'report' | 'stop' };
  BLOCK_JOB_PENDING: { type: JobType; id: string };
  BLOCK_IO_ERROR: {
    device: string;
    'node-name'?: string;
    operation: 'read' | 'write';
    action: 'ignore' | 'report' | 'stop';
    nospace?: boolean;
    reason: string;
  };
  JOB_STATUS_CHANGE: { id: string; status: JobStatus };
  MIGRATION: { status: MigrationStatus };
  MIGRATION_PASS: { pass: number };
  DEVICE_DELETED: { device?: string; path: string };
  DEVICE_TRAY_MOVED: { device: string; id: string; 'tray-open': boolean };
  NIC_RX_FILTER_CHANGED: { name?: string; path: string };
  BALLOON_CHANGE: { actual: number };
  VSERPORT_CHANGE: { id: string; open: boolean };
  RTC_CHANGE: { offset: number; 'qom-path': string };
}

export type QmpEventName = keyof QmpEvents;

/** One event as it arrives on the wire (with `data` defaulted to `{}`). */
export interface QmpEventMessage<E extends string = string> {
  event: E;
  data: E extends QmpEventName ? QmpEvents[E] : Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}
