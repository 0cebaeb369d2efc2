/**
 * The OCI runtime configuration of a system container: the distribution's init as PID 1 with a console, its
 * own namespaces (a user namespace unless privileged), cgroup limits from the spec, and the mounts systemd
 * expects (/run and /tmp as tmpfs, a writable cgroup tree of its own). Pure: the driver writes the result.
 */
import { DroverError } from '../../shared/errors.js';
import type { VmSpec } from '../../vms/spec.js';

/** Ids each container's user namespace maps: root in the container is `base` on the host. */
export const ID_RANGE_SIZE = 65_536;

/** What the driver decides at start beside the spec. */
export interface BundleContext {
  rootfs: string;
  /** The first host id of the container's range; absent for a privileged container (no user namespace). */
  idBase?: number;
  cgroupsPath: string;
  /** The loop device the root filesystem sits on, for disk I/O limits. */
  rootDevice: { major: number; minor: number };
  /** The capabilities the host lets the runtime grant (its bounding set); the container gets those of its set that are there. */
  grantable?: readonly string[];
}

// Every capability except those that reach outside a user namespace anyway or that a system container never needs.
const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_SETFCAP',
  'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
];

// linux/capability.h numbering, to read a process's capability masks.
const CAPABILITY_BITS = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT',
  'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE',
  'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
].map((name) => `CAP_${name}`);

/** The capability names in a hexadecimal mask as /proc/PID/status shows it (CapBnd). */
export function capabilitiesIn(mask: string): string[] {
  const bits = BigInt(`0x${mask}`);
  return CAPABILITY_BITS.filter((_, bit) => (bits >> BigInt(bit)) & 1n);
}

/** Linux signal numbers for the names a container image may give as its stop signal (SIGRTMIN is 34 under glibc). */
export function signalNumber(name: string): number {
  const fixed: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15, SIGPWR: 30 };
  if (fixed[name] !== undefined) return fixed[name];
  const rt = /^SIGRTMIN\+([0-9]{1,2})$/.exec(name);
  if (rt && Number(rt[1]) <= 30) return 34 + Number(rt[1]);
  throw new DroverError('INVALID_ARGUMENT', `unknown stop signal ${name}`);
}

const PERIOD_US = 100_000;

/** The container's cgroup resources (OCI LinuxResources) from its spec; also what `runc update` takes. */
export function containerResources(spec: VmSpec, rootDevice: { major: number; minor: number }): Record<string, unknown> {
  const memory = spec.memoryMiB * 1024 * 1024;
  const swap = (spec.container?.swapMiB ?? 0) * 1024 * 1024;
  // The CPU count caps the container at that many cores' worth of time, unless a finer cap is given.
  const percent = spec.cpuLimitPercent ?? spec.cpus * 100;
  const throttle = spec.disks[0]?.throttle;
  const device = (rate: number) => [{ major: rootDevice.major, minor: rootDevice.minor, rate }];
  return {
    memory: { limit: memory, swap: memory + swap },
    cpu: {
      period: PERIOD_US,
      quota: Math.max(1000, Math.round((PERIOD_US * percent) / 100)),
      ...(spec.cpuPinning ? { cpus: spec.cpuPinning.join(',') } : {}),
    },
    ...(spec.container?.pidsLimit ? { pids: { limit: spec.container.pidsLimit } } : {}),
    blockIO: {
      ...(throttle?.bytesPerSecond
        ? { throttleReadBpsDevice: device(throttle.bytesPerSecond), throttleWriteBpsDevice: device(throttle.bytesPerSecond) }
        : {}),
      ...(throttle?.iops ? { throttleReadIOPSDevice: device(throttle.iops), throttleWriteIOPSDevice: device(throttle.iops) } : {}),
    },
    devices: [{ allow: false, access: 'rwm' }, ...ALLOWED_DEVICES.map(([type, major, minor]) => ({ allow: true, type, major, minor, access: 'rwm' }))],
  };
}

// null, zero, full, random, urandom, tty, console, ptmx and the pty slaves: nothing else, so no block device opens.
const ALLOWED_DEVICES: Array<[string, number, number]> = [
  ['c', 1, 3], ['c', 1, 5], ['c', 1, 7], ['c', 1, 8], ['c', 1, 9], ['c', 5, 0], ['c', 5, 1], ['c', 5, 2], ['c', 136, -1],
];

/** The OCI config.json of the container `spec` describes. */
export function ociConfig(spec: VmSpec, ctx: BundleContext): Record<string, unknown> {
  const container = spec.container;
  if (!container) throw new DroverError('INVALID_ARGUMENT', `${spec.name} has no container settings`);
  const userns = ctx.idBase !== undefined;
  const mapping = userns ? [{ containerID: 0, hostID: ctx.idBase, size: ID_RANGE_SIZE }] : undefined;
  const capabilities = ctx.grantable ? CAPABILITIES.filter((cap) => ctx.grantable?.includes(cap)) : CAPABILITIES;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: container.init,
      // systemd takes its machine-id from container_uuid when /etc/machine-id is empty.
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'container=drover', `container_uuid=${spec.id.replace(/-/g, '')}`, 'TERM=linux'],
      cwd: '/',
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities },
      noNewPrivileges: false,
    },
    root: { path: ctx.rootfs, readonly: false },
    hostname: spec.name,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      // systemd needs its own writable name=systemd hierarchy; the controllers stay read-only to the container.
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'rw'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=20%'] },
      { destination: '/run/lock', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'size=5120k'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=20%'] },
    ],
    linux: {
      ...(mapping ? { uidMappings: mapping, gidMappings: mapping } : {}),
      namespaces: [
        { type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' },
        ...(userns ? [{ type: 'user' }] : []),
      ],
      cgroupsPath: ctx.cgroupsPath,
      resources: containerResources(spec, ctx.rootDevice),
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi', '/sys/devices/virtual/powercap',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
