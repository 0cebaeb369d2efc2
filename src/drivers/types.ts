import type { GuestNetworkInterface } from '../guest-agent/types.js';
import type { DeviceModel, GuestType, VmSpec, VmState } from '../vms/spec.js';

/** What a driver can do; the scheduler, migration and HA read these, never the driver's name. */
export interface DriverCapabilities {
  /** Moves a running guest to another host without stopping it. */
  liveMigrate: boolean;
  /** Moves a guest by stopping it, copying what changed and starting it on the other host (restart mode). */
  coldMigrate: boolean;
  snapshots: boolean;
  guestExec: boolean;
  /** A text console: QEMU's serial port, a container's pty. */
  serialConsole: boolean;
  vnc: boolean;
  /** A NIC behind the host's user-mode stack (slirp, with port forwards), the default NIC of a guest with no bridge. */
  userNetworking: boolean;
  deviceModels: DeviceModel[];
  /** The guest sees a CPU model of Drover's choosing; without it, the guest sees the host's own CPU. */
  cpuModels: boolean;
}

/** A VM as its host sees it right now. */
export interface RuntimeStatus {
  id: string;
  state: VmState;
  /** The guest's main process on the host: QEMU, or a container's init. */
  pid?: number;
  startedAt?: string;
  /** Why the VM is crashed, when state is 'crashed'. */
  crashReason?: string;
  /** True once the guest answered (its guest agent, a container's exec) since the last start. */
  guestReady: boolean;
  accelerator?: 'kvm' | 'tcg';
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  signal?: number;
}

/** Usage counters of one running guest since it started. */
export interface GuestUsage {
  cpuSeconds: number;
  memoryRssBytes: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  netRxBytes: number;
  netTxBytes: number;
}

/** A console connection: what the guest prints comes to onOutput; write() types into it. */
export interface ConsoleConnection {
  write(data: Buffer): void;
  onOutput(listener: (data: Buffer) => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

/** A disk on another host, served over NBD, that a disk can be copied into. */
export interface NbdTarget {
  host: string;
  port: number;
  exportName: string;
}

/** The limits that change on a running guest (`vm set`); absent fields keep their value, null removes a limit. */
export interface LiveLimits {
  cpuLimitPercent?: number | null;
  memoryMiB?: number;
  pidsLimit?: number | null;
}

/** The narrow interface every guest driver (QEMU, container, simulated) implements. */
export interface Driver {
  readonly kind: string;
  /** The guest type this driver runs: 'vm' or 'container'. */
  readonly guestType: GuestType;
  readonly capabilities: DriverCapabilities;
  /** Checks that this host can run `spec` as given (refused with a coded error), without starting anything. */
  validate(spec: VmSpec): Promise<void>;
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
  /** Resolves when the guest answers; throws GUEST_AGENT_UNAVAILABLE after timeoutMs. */
  waitReady(id: string, timeoutMs: number): Promise<void>;
  /** True when the guest answers within `timeoutMs`; false when it does not, or the VM does not run. */
  pingGuest(id: string, timeoutMs: number): Promise<boolean>;
  /** Runs a program inside the guest. */
  exec(id: string, path: string, args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** The guest's network interfaces, addresses and counters; remembers the addresses for `addresses`. */
  guestNetwork(id: string): Promise<GuestNetworkInterface[]>;
  /** The guest's IP addresses as last seen (empty until then, and after it stops). */
  addresses(id: string): string[];
  /** Usage counters of a running guest. */
  usage(id: string): Promise<GuestUsage | undefined>;
  /** Takes (or deletes) an internal snapshot of the named disks of a running guest, consistent across them. */
  snapshotLive(id: string, diskNames: string[], snapshot: string, action: 'create' | 'delete'): Promise<void>;
  /**
   * Starts recording which clusters of a running guest's root disk are written (a dirty bitmap kept in the qcow2
   * when the guest stops), after a flush, so a copy made while it runs needs only those clusters again once it has
   * stopped. Only for drivers with `coldMigrate`; live migration copies disks its own way.
   */
  trackRootDiskWrites(id: string): Promise<void>;
  /** Changes limits of a running guest at once; the caller keeps them in the record for the next start. */
  setLimits(id: string, limits: LiveLimits): Promise<void>;
  /** Everything the guest's text console printed (the last `tailBytes` of it), whether or not it runs now. */
  consoleLog(id: string, tailBytes?: number): Buffer;
  /** Attaches to the text console of a running guest. */
  attachConsole(id: string): Promise<ConsoleConnection>;
  /** The unix socket of the guest's VNC display, when it has one. */
  vncSocket(id: string): string | undefined;
  /** Re-attaches to every guest still running from an earlier process; returns what it found. */
  recover(): Promise<RuntimeStatus[]>;
  /** Calls back on every state change. */
  onStateChange(listener: (status: RuntimeStatus) => void): void;
  /** Calls back with the guest's id whenever it resets: a reboot from inside, or reboot(). */
  onGuestReset(listener: (id: string) => void): void;
  /** Forgets a stopped guest's runtime state (its console log goes too). */
  forget(id: string): void;
  /** Drops connections without touching guests (the guests keep running). */
  detach(): Promise<void>;
}
