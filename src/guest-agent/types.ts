/**
 * Typed shapes the guest-agent client returns. Wire replies (QEMU 7.2's qga schema, kebab-case) are
 * parsed into these at the client's edge.
 */

export interface GuestExecOptions {
  /** Written to the process's stdin, which is then closed. */
  input?: string;
  /** How long the process may run before exec() gives up with TIMEOUT; default 60 s. */
  timeoutMs?: number;
  /** `NAME=value` entries; when given they replace the agent's whole environment for the process. */
  env?: string[];
}

export interface GuestExecResult {
  /** The exit status, or 128 + signal when a signal ended the process (shell convention). */
  exitCode: number;
  stdout: string;
  stderr: string;
  signal?: number;
  /** The agent caps captured output (16 MiB in QEMU 7.2); true when some was cut. */
  truncated?: boolean;
}

export interface GuestIpAddress {
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
}

export interface GuestInterfaceStatistics {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

export interface GuestNetworkInterface {
  name: string;
  macAddress?: string;
  addresses: GuestIpAddress[];
  statistics?: GuestInterfaceStatistics;
}

export interface GuestAgentInfo {
  version: string;
  commands: { name: string; enabled: boolean; successResponse: boolean }[];
}

export interface GuestOsInfo {
  id?: string;
  name?: string;
  prettyName?: string;
  version?: string;
  versionId?: string;
  variant?: string;
  variantId?: string;
  kernelRelease?: string;
  kernelVersion?: string;
  machine?: string;
}

export type GuestShutdownMode = 'powerdown' | 'reboot' | 'halt';

export type GuestFsfreezeStatus = 'thawed' | 'frozen';
