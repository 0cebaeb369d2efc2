/**
 * Typed QMP commands a VMM needs, checked against the schema QEMU 7.2 reports through
 * `query-qmp-schema`. Field names keep QEMU's spelling (mixed `-` and `_`) because they are wire names.
 */

/** An empty argument or return object. */
export type Empty = Record<string, never>;

export type RunState =
  | 'debug' | 'inmigrate' | 'internal-error' | 'io-error' | 'paused' | 'postmigrate' | 'prelaunch'
  | 'finish-migrate' | 'restore-vm' | 'running' | 'save-vm' | 'shutdown' | 'suspended' | 'watchdog'
  | 'guest-panicked' | 'colo';

export interface StatusInfo { running: boolean; singlestep: boolean; status: RunState }

export interface VersionInfo { qemu: { major: number; minor: number; micro: number }; package: string }

export interface CpuInfoFast {
  'cpu-index': number;
  'qom-path': string;
  'thread-id': number;
  target: string;
  props?: { 'node-id'?: number; 'socket-id'?: number; 'die-id'?: number; 'core-id'?: number; 'thread-id'?: number };
}

export interface ImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'cluster-size'?: number;
  'dirty-flag'?: boolean;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  snapshots?: SnapshotInfo[];
  'backing-image'?: ImageInfo;
}

export interface SnapshotInfo {
  id: string;
  name: string;
  'vm-state-size': number;
  'date-sec': number;
  'date-nsec': number;
  'vm-clock-sec': number;
  'vm-clock-nsec': number;
  icount?: number;
}

/** The throttle limits shared by query-block's `inserted` and block_set_io_throttle. */
export interface IoThrottleLimits {
  bps: number; bps_rd: number; bps_wr: number;
  iops: number; iops_rd: number; iops_wr: number;
  bps_max?: number; bps_rd_max?: number; bps_wr_max?: number;
  iops_max?: number; iops_rd_max?: number; iops_wr_max?: number;
  bps_max_length?: number; bps_rd_max_length?: number; bps_wr_max_length?: number;
  iops_max_length?: number; iops_rd_max_length?: number; iops_wr_max_length?: number;
  iops_size?: number;
  group?: string;
}

export interface BlockDeviceInfo extends IoThrottleLimits {
  file: string;
  'node-name'?: string;
  ro: boolean;
  drv: string;
  backing_file?: string;
  backing_file_depth: number;
  encrypted: boolean;
  detect_zeroes: 'off' | 'on' | 'unmap';
  image: ImageInfo;
  cache: { writeback: boolean; direct: boolean; 'no-flush': boolean };
  write_threshold: number;
}

export interface BlockInfo {
  device: string;
  qdev?: string;
  type: string;
  removable: boolean;
  locked: boolean;
  inserted?: BlockDeviceInfo;
  tray_open?: boolean;
  'io-status'?: 'ok' | 'failed' | 'nospace';
}

export interface BlockDeviceStats {
  rd_bytes: number; wr_bytes: number; unmap_bytes: number;
  rd_operations: number; wr_operations: number; flush_operations: number; unmap_operations: number;
  rd_total_time_ns: number; wr_total_time_ns: number; flush_total_time_ns: number; unmap_total_time_ns: number;
  wr_highest_offset: number;
  rd_merged: number; wr_merged: number; unmap_merged: number;
  idle_time_ns?: number;
  failed_rd_operations: number; failed_wr_operations: number;
  failed_flush_operations: number; failed_unmap_operations: number;
  invalid_rd_operations: number; invalid_wr_operations: number;
  invalid_flush_operations: number; invalid_unmap_operations: number;
  account_invalid: boolean;
  account_failed: boolean;
}

export interface BlockStats {
  device?: string;
  qdev?: string;
  'node-name'?: string;
  stats: BlockDeviceStats;
  parent?: BlockStats;
  backing?: BlockStats;
}

export type MigrationStatus =
  | 'none' | 'setup' | 'cancelling' | 'cancelled' | 'active' | 'postcopy-active' | 'postcopy-paused'
  | 'postcopy-recover' | 'completed' | 'failed' | 'colo' | 'pre-switchover' | 'device' | 'wait-unplug';

export interface MigrationStats {
  transferred: number;
  remaining: number;
  total: number;
  duplicate: number;
  skipped: number;
  normal: number;
  'normal-bytes': number;
  'dirty-pages-rate': number;
  mbps: number;
  'dirty-sync-count': number;
  'postcopy-requests': number;
  'page-size': number;
  'multifd-bytes': number;
  'pages-per-second': number;
  'precopy-bytes': number;
  'downtime-bytes': number;
  'postcopy-bytes': number;
}

export interface MigrationInfo {
  status?: MigrationStatus;
  ram?: MigrationStats;
  disk?: MigrationStats;
  'total-time'?: number;
  'expected-downtime'?: number;
  downtime?: number;
  'setup-time'?: number;
  'cpu-throttle-percentage'?: number;
  'error-desc'?: string;
  'blocked-reasons'?: string[];
}

export type MigrationCapability =
  | 'xbzrle' | 'rdma-pin-all' | 'auto-converge' | 'zero-blocks' | 'compress' | 'events' | 'postcopy-ram'
  | 'x-colo' | 'release-ram' | 'block' | 'return-path' | 'pause-before-switchover' | 'multifd' | 'dirty-bitmaps'
  | 'postcopy-blocktime' | 'late-block-activate' | 'x-ignore-shared' | 'validate-uuid' | 'background-snapshot'
  | 'zero-copy-send' | 'postcopy-preempt';

/** The subset of MigrationParameters Drover sets; QEMU accepts any subset. */
export interface MigrationParameters {
  'announce-initial'?: number;
  'announce-max'?: number;
  'announce-rounds'?: number;
  'announce-step'?: number;
  'throttle-trigger-threshold'?: number;
  'cpu-throttle-initial'?: number;
  'cpu-throttle-increment'?: number;
  'cpu-throttle-tailslow'?: boolean;
  'tls-creds'?: string;
  'tls-hostname'?: string;
  'max-bandwidth'?: number;
  'downtime-limit'?: number;
  'multifd-channels'?: number;
  'xbzrle-cache-size'?: number;
  'max-postcopy-bandwidth'?: number;
  'max-cpu-throttle'?: number;
  'multifd-compression'?: 'none' | 'zlib' | 'zstd';
}

export type JobStatus =
  | 'undefined' | 'created' | 'running' | 'paused' | 'ready' | 'standby' | 'waiting' | 'pending'
  | 'aborting' | 'concluded' | 'null';

export interface BlockJobInfo {
  type: string;
  device: string;
  len: number;
  offset: number;
  busy: boolean;
  paused: boolean;
  speed: number;
  'io-status': 'ok' | 'failed' | 'nospace';
  ready: boolean;
  status: JobStatus;
  'auto-finalize': boolean;
  'auto-dismiss': boolean;
  error?: string;
}

export type BlockdevOnError = 'report' | 'ignore' | 'enospc' | 'stop' | 'auto';

export interface DriveMirrorArgs {
  'job-id'?: string;
  device: string;
  target: string;
  format?: string;
  'node-name'?: string;
  replaces?: string;
  sync: 'top' | 'full' | 'none' | 'incremental' | 'bitmap';
  mode?: 'existing' | 'absolute-paths';
  speed?: number;
  granularity?: number;
  'buf-size'?: number;
  'on-source-error'?: BlockdevOnError;
  'on-target-error'?: BlockdevOnError;
  unmap?: boolean;
  'copy-mode'?: 'background' | 'write-blocking';
  'auto-finalize'?: boolean;
  'auto-dismiss'?: boolean;
}

export interface ChardevInfo { label: string; filename: string; 'frontend-open': boolean }

export interface MachineInfo {
  name: string;
  alias?: string;
  'is-default'?: boolean;
  'cpu-max': number;
  'hotpluggable-cpus': boolean;
  'numa-mem-supported': boolean;
  deprecated: boolean;
  'default-cpu-type'?: string;
  'default-ram-id'?: string;
}

/** netdev_add takes a flat object whose extra keys depend on `type` (tap: ifname, fd, vhost...). */
export interface NetdevAddArgs {
  id: string;
  type: 'user' | 'tap' | 'socket' | 'stream' | 'dgram' | 'bridge' | 'vhost-user' | 'vhost-vdpa' | 'hubport';
  [option: string]: unknown;
}

/** device_add takes the driver's own properties as extra keys (netdev, mac, drive, bus, addr...). */
export interface DeviceAddArgs {
  driver: string;
  id?: string;
  bus?: string;
  [property: string]: unknown;
}

/** Command name → argument and return types. */
export interface QmpCommands {
  'qmp_capabilities': { args: { enable?: 'oob'[] }; return: Empty };
  'query-status': { args: Empty; return: StatusInfo };
  'query-version': { args: Empty; return: VersionInfo };
  'query-name': { args: Empty; return: { name?: string } };
  'query-kvm': { args: Empty; return: { enabled: boolean; present: boolean } };
  'query-machines': { args: Empty; return: MachineInfo[] };
  'cont': { args: Empty; return: Empty };
  'stop': { args: Empty; return: Empty };
  'system_powerdown': { args: Empty; return: Empty };
  'system_reset': { args: Empty; return: Empty };
  'quit': { args: Empty; return: Empty };
  /** qemu-storage-daemon: ends an export (a FUSE export unmounts its file). */
  'block-export-del': { args: { id: string; mode?: 'safe' | 'hard' }; return: Empty };
  'query-cpus-fast': { args: Empty; return: CpuInfoFast[] };
  'query-block': { args: Empty; return: BlockInfo[] };
  'query-blockstats': { args: { 'query-nodes'?: boolean }; return: BlockStats[] };
  'query-migrate': { args: Empty; return: MigrationInfo };
  'migrate': { args: { uri: string; blk?: boolean; inc?: boolean; detach?: boolean; resume?: boolean }; return: Empty };
  'migrate_cancel': { args: Empty; return: Empty };
  'migrate-set-capabilities': {
    args: { capabilities: { capability: MigrationCapability; state: boolean }[] };
    return: Empty;
  };
  'migrate-set-parameters': { args: MigrationParameters; return: Empty };
  'query-migrate-parameters': { args: Empty; return: MigrationParameters };
  'block_set_io_throttle': { args: IoThrottleLimits & { device?: string; id?: string }; return: Empty };
  'blockdev-snapshot-internal-sync': { args: { device: string; name: string }; return: Empty };
  'blockdev-snapshot-delete-internal-sync': { args: { device: string; id?: string; name?: string }; return: SnapshotInfo };
  'drive-mirror': { args: DriveMirrorArgs; return: Empty };
  'block-job-cancel': { args: { device: string; force?: boolean }; return: Empty };
  'block-job-complete': { args: { device: string }; return: Empty };
  'query-block-jobs': { args: Empty; return: BlockJobInfo[] };
  /** Adds a block node; used here for an NBD client node a disk is mirrored into. */
  'blockdev-add': { args: { driver: 'nbd'; 'node-name': string; server: { type: 'inet'; host: string; port: string }; export: string }; return: Empty };
  'blockdev-del': { args: { 'node-name': string }; return: Empty };
  'block-dirty-bitmap-add': { args: { node: string; name: string; persistent?: boolean }; return: Empty };
  'block-dirty-bitmap-remove': { args: { node: string; name: string }; return: Empty };
  /** Copies the clusters a dirty bitmap marks (sync 'bitmap') or all of them into `target`. */
  'blockdev-backup': { args: { 'job-id': string; device: string; target: string; sync: 'bitmap' | 'full'; bitmap?: string; 'bitmap-mode'?: 'on-success' | 'never' | 'always' }; return: Empty };
  'human-monitor-command': { args: { 'command-line': string; 'cpu-index'?: number }; return: string };
  'query-balloon': { args: Empty; return: { actual: number } };
  'qom-get': { args: { path: string; property: string }; return: unknown };
  'query-chardev': { args: Empty; return: ChardevInfo[] };
  'set_link': { args: { name: string; up: boolean }; return: Empty };
  /** The fd itself must travel with the message as SCM_RIGHTS ancillary data, which Node's net module cannot send. */
  'getfd': { args: { fdname: string }; return: Empty };
  'netdev_add': { args: NetdevAddArgs; return: Empty };
  'netdev_del': { args: { id: string }; return: Empty };
  'device_add': { args: DeviceAddArgs; return: Empty };
  'device_del': { args: { id: string }; return: Empty };
}

export type QmpCommandName = keyof QmpCommands;
export type QmpArgs<K extends QmpCommandName> = QmpCommands[K]['args'];
export type QmpReturn<K extends QmpCommandName> = QmpCommands[K]['return'];
