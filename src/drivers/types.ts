import type { DeviceModel, VmSpec, VmState } from '../vms/spec.js';

/** What a driver can do; the scheduler and HA read these, never the driver's name. */
export interface DriverCapabilities {
  liveMigrate: boolean;
  snapshots: boolean;
  guestExec: boolean;
  serialConsole: boolean;
  vnc: boolean;
  deviceModels: DeviceModel[];
}

/** A VM as its host sees it right now. */
export interface RuntimeStatus {
  id: string;
  state: VmState;
  pid?: number;
  startedAt?: string;
  /** Why the VM is crashed, when state is 'crashed'. */
  crashReason?: string;
  /** True once the guest agent has answered since the last start. */
  guestReady: boolean;
  accelerator?: 'kvm' | 'tcg';
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  signal?: number;
}

/** The narrow interface every guest driver (QEMU, container, simulated) implements. */
export interface Driver {
  readonly kind: string;
  readonly capabilities: DriverCapabilities;
  /** Starts a VM from its spec; resolves when the hypervisor runs it (not when the guest is ready). */
  start(spec: VmSpec): Promise<RuntimeStatus>;
  /** Graceful stop (guest powerdown), then force after timeoutMs. */
  stop(id: string, opts?: { timeoutMs?: number }): Promise<RuntimeStatus>;
  /** Immediate stop, like pulling the plug. */
  kill(id: string): Promise<RuntimeStatus>;
  reboot(id: string): Promise<RuntimeStatus>;
  pause(id: string): Promise<RuntimeStatus>;
  resume(id: string): Promise<RuntimeStatus>;
  /** Current status; 'stopped' for a VM the driver does not run. */
  status(id: string): RuntimeStatus;
  /** Resolves when the guest agent answers; throws GUEST_AGENT_UNAVAILABLE after timeoutMs. */
  waitReady(id: string, timeoutMs: number): Promise<void>;
  /** Runs a program inside the guest. */
  exec(id: string, path: string, args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** Re-attaches to every guest still running from an earlier process; returns what it found. */
  recover(): Promise<RuntimeStatus[]>;
  /** Calls back on every state change. */
  onStateChange(listener: (status: RuntimeStatus) => void): void;
  /** Drops connections without touching guests (the guests keep running). */
  detach(): Promise<void>;
}
