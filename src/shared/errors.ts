/**
 * The one table of Drover's coded errors. Every error a user can see is declared here,
 * with its HTTP status and a message that says what to do next.
 */
export const ERRORS = {
  // generic input
  INVALID_ARGUMENT: { status: 400, message: 'Invalid argument.' },
  INVALID_NAME: {
    status: 400,
    message: 'Names must be 1-63 characters of lowercase letters, digits and "-", starting with a letter.',
  },
  INVALID_SIZE: { status: 400, message: 'The size is out of range.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the request body as application/json.' },
  UNAUTHORIZED: { status: 401, message: 'A valid bearer token is required. Set DROVER_TOKEN or run `drover up` first.' },
  FORBIDDEN: { status: 403, message: 'The token does not allow this action.' },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  ALREADY_EXISTS: { status: 409, message: 'A resource with that name already exists; pick another name or delete it first.' },

  // tokens
  TOKEN_NOT_FOUND: { status: 404, message: 'No such active token. Run `drover token list` to see them.' },
  TOKEN_EXISTS: { status: 409, message: 'An active token with that name already exists. Revoke it first or choose another name.' },

  // operations
  OPERATION_NOT_FOUND: { status: 404, message: 'No such operation. Run `drover operation list` to see recent ones.' },
  OPERATION_FINISHED: { status: 409, message: 'The operation has already finished; there is nothing left to cancel.' },
  OPERATION_CANCELLED: { status: 409, message: 'The operation was cancelled and the steps it had done were undone.' },
  OPERATION_INTERRUPTED: {
    status: 500,
    message: 'The controller restarted while the operation was running. The detail lists the steps it had done; check them and retry.',
  },
  ROLLBACK_INCOMPLETE: {
    status: 500,
    message: 'The operation failed and some of its steps could not be undone; the detail names them. Clean them up, then retry.',
  },

  // controller store
  STORE_UNAVAILABLE: {
    status: 503,
    message: 'The controller cannot reach its store (PostgreSQL), so the request was not acknowledged. Retry once the database is back; a write cut off mid-commit may have landed, so check before repeating it.',
  },
  STORE_CONFLICT: {
    status: 503,
    message: 'Other controllers kept changing the same data at the same moment; nothing was changed by this request. Retry.',
  },
  CONTROLLER_NOT_LEADER: {
    status: 503,
    message: 'This controller is not the leader, or no longer is: the leader runs host judgement, HA and balancing. The detail names the leader; ask it, or retry on another controller.',
  },
  STORE_URL_INVALID: {
    status: 400,
    message: 'The store must be `sqlite:PATH` or `postgresql://USER@HOST[:PORT][,HOST2[:PORT]]/DB[?target_session_attrs=read-write]`.',
  },
  STORE_SCHEMA_TOO_NEW: {
    status: 500,
    message: 'The database was written by a newer Drover. Upgrade the controller, or restore a backup made by this version.',
  },
  STORE_SCHEMA_TOO_OLD: {
    status: 409,
    message: 'The store has an older schema than this Drover, and this command does not change it. Start this version\'s controller on it once (it migrates the store as it starts), then retry.',
  },
  STORE_NOT_FOUND: {
    status: 404,
    message: 'There is no Drover store there: the SQLite file does not exist, or the database has no Drover schema. Check the store URL (--from, --store or $DROVER_STORE).',
  },
  STORE_NOT_EMPTY: {
    status: 409,
    message: 'The destination store already holds data, and a copy only fills an empty one. Point --to at a new, empty database or SQLite file.',
  },
  STORE_IN_USE: {
    status: 409,
    message: 'A controller has the store open. Stop every controller that uses it, then restore again.',
  },
  STORE_COPY_FAILED: {
    status: 500,
    message: 'Copying the store failed and nothing was written to the destination; the detail names the table and the reason.',
  },
  STORE_BACKUP_NOT_FOUND: { status: 404, message: 'The backup file does not exist or is not readable.' },
  STORE_BACKUP_INVALID: {
    status: 422,
    message: 'The file is not a Drover store backup for this engine (SQLite backups restore into SQLite, pg_dump backups into PostgreSQL), or it is damaged. Nothing was changed.',
  },
  STORE_BACKUP_FAILED: { status: 500, message: 'pg_dump or pg_restore failed; the detail has its message. Nothing was changed.' },

  // images
  IMAGE_NOT_FOUND: { status: 404, message: 'No such image. Run `drover image list` to see the library.' },
  IMAGE_EXISTS: { status: 409, message: 'An image with that name already exists. Delete it first or choose another name.' },
  IMAGE_INVALID: { status: 422, message: 'The file is not a valid disk image (qcow2, raw, vmdk or vhdx).' },
  IMAGE_CORRUPT: { status: 422, message: 'The image is corrupt; `qemu-img check` found errors.' },
  IMAGE_FORMAT_UNSUPPORTED: { status: 422, message: 'Unsupported image format. Drover imports qcow2, raw, vmdk and vhdx.' },
  IMAGE_IN_USE: { status: 409, message: 'The image is used by VMs as a backing file. Delete those VMs or full-clone them first.' },
  IMAGE_BUILD_FAILED: { status: 500, message: 'Building the guest image failed; see the detail for the step that broke.' },
  IMAGE_TYPE_MISMATCH: {
    status: 409,
    message: 'The image is of the other type: VMs are made from VM images and containers from container images. `drover image list` shows each image\'s TYPE.',
  },
  FILE_NOT_FOUND: { status: 404, message: 'The file does not exist or is not readable.' },

  // storage
  NO_SPACE: { status: 507, message: 'Not enough free space in the storage directory. Free some space and retry.' },
  DISK_NOT_FOUND: { status: 404, message: 'No such disk.' },
  DISK_EXISTS: { status: 409, message: 'A disk already exists at that path. Delete it first or choose another name.' },
  DISK_IN_USE: { status: 409, message: 'A running QEMU holds the disk open. Stop the VM that uses it first.' },
  SNAPSHOT_NOT_FOUND: { status: 404, message: 'No such snapshot. Run `drover vm snapshot list VM` to see them.' },
  LINKED_CLONE_HAS_SNAPSHOTS: {
    status: 409,
    message: 'A linked clone needs a source VM without snapshots. Use --full, or delete the snapshots first.',
  },
  SNAPSHOT_EXISTS: { status: 409, message: 'A snapshot with that name already exists on this VM.' },
  STORAGE_ERROR: { status: 500, message: 'A storage command failed; see the detail.' },

  // host networking
  INVALID_INTERFACE_NAME: {
    status: 400,
    message: 'Network interface names must be 1-15 characters of letters, digits, "_", "." and "-".',
  },
  NETWORK_ERROR: { status: 500, message: 'A host networking command (ip or tc) failed; see the detail.' },

  // virtual networks (overlays between hosts)
  VIRTUAL_NETWORK_NOT_FOUND: { status: 404, message: 'No such virtual network. Run `drover network list` to see them.' },
  VIRTUAL_NETWORK_EXISTS: { status: 409, message: 'A virtual network with that name already exists.' },
  VIRTUAL_NETWORK_IN_USE: { status: 409, message: 'VMs still have NICs on this virtual network. Delete those VMs first.' },
  INVALID_SUBNET: { status: 400, message: 'Give the subnet as an IPv4 CIDR with a prefix from /8 to /29, e.g. 10.60.0.0/24.' },
  VNI_TAKEN: { status: 409, message: 'Another virtual network uses that VNI. Pick another, or leave --vni out to get a free one.' },
  ADDRESS_TAKEN: { status: 409, message: 'Another VM on the virtual network has that IP address. Pick another, or leave ip= out to get a free one.' },
  ADDRESS_OUT_OF_SUBNET: {
    status: 400,
    message: 'The IP address is not a usable host address of the virtual network\'s subnet (network, broadcast and the first address are reserved).',
  },
  INVALID_RATE_LIMIT: {
    status: 400,
    message: 'Give a NIC rate limit as a number and a unit: 500kbit, 10mbit, 1gbit, or 2MB/s (megabytes per second, as Proxmox); from 8 kbit/s to 100 Gbit/s. The API takes Mbit/s.',
  },
  NIC_NOT_FOUND: { status: 404, message: 'The VM has no such NIC. `drover vm show VM` lists its NICs (eth0 is the first).' },
  NIC_NOT_RATE_LIMITABLE: {
    status: 409,
    message: 'Only NICs with a tap on the host (on a virtual network or a bridge) take a rate limit; the user-mode NIC has none.',
  },
  NETWORK_FULL: { status: 409, message: 'Every address of the virtual network\'s subnet is taken. Create a network with a larger subnet.' },

  // VMs
  VM_NOT_FOUND: { status: 404, message: 'No such VM. Run `drover vm list` to see them.' },
  VM_EXISTS: { status: 409, message: 'A VM with that name already exists.' },
  VM_NOT_RUNNING: { status: 409, message: 'The VM is not running. Start it first.' },
  VM_NOT_STOPPED: { status: 409, message: 'The VM is running. Stop it first, or pass --force.' },
  VM_ALREADY_RUNNING: { status: 409, message: 'The VM is already running.' },
  VM_NOT_PAUSED: { status: 409, message: 'The VM is not paused.' },
  GUEST_TYPE_UNSUPPORTED: {
    status: 409,
    message: 'This kind of guest cannot do that (a container has no live migration, kernel or user-mode NIC, for instance); the detail says why and what to use instead.',
  },

  CONTAINER_ID_RANGES_EXHAUSTED: {
    status: 409,
    message: 'Every block of user ids this host keeps for containers is in use. Delete containers here, or widen root\'s range in /etc/subuid and /etc/subgid.',
  },
  VM_BUSY: { status: 409, message: 'Another operation is in progress on this VM. Wait for it or cancel it.' },
  VM_START_FAILED: { status: 500, message: 'The guest failed to start (QEMU or the container runtime refused it); see the detail for its error output.' },
  GUEST_AGENT_UNAVAILABLE: {
    status: 503,
    message: 'The guest agent does not answer. Wait for the VM to finish booting, or check that qemu-guest-agent runs in the guest.',
  },
  GUEST_EXEC_FAILED: { status: 502, message: 'The guest could not run the command.' },
  TIMEOUT: { status: 504, message: 'The action timed out.' },

  // scheduler
  PLACEMENT_IMPOSSIBLE: {
    status: 409,
    message:
      'No host passes the placement filters for this VM; the detail names each host and the filter that refused it. Free capacity, relax the VM\'s requirements (tags, device model, groups) or take a host out of maintenance.',
  },

  HOST_UNSUITABLE: {
    status: 409,
    message: 'That host fails the placement filters for this VM; the detail gives every reason. Leave the host out to let the scheduler choose, or run `drover vm migration-targets VM` to see where a running VM can move.',
  },

  CPU_MODEL_UNSUPPORTED: {
    status: 400,
    message:
      'That CPU model cannot be used here: the host\'s QEMU does not offer it, or (for a cluster baseline) it follows the host processor (host, max) and would break migration. Run `drover host show H -o json` to see the models each host offers.',
  },

  // live migration
  MIGRATION_SAME_HOST: { status: 409, message: 'The VM is already on that host. Name another host with --to.' },
  MIGRATION_TARGET_NOT_READY: {
    status: 409,
    message: 'The target host cannot take the VM now: it is not ready (joining, offline or in maintenance) or not healthy. Check `drover host list`.',
  },
  PLACEMENT_NOT_FOUND: { status: 404, message: 'The VM was on no host at that time. Run `drover vm history VM` to see where it has been.' },
  MIGRATION_NOT_FOUND: { status: 404, message: 'No such migration on this host. Run GET /api/v1/migrations to see recent ones.' },
  MIGRATION_INCOMPATIBLE: {
    status: 409,
    message: 'The destination host cannot run this VM as it runs now (machine type, CPU model, accelerator or image differ); the detail names the difference.',
  },
  MIGRATION_STORAGE_UNAVAILABLE: {
    status: 409,
    message: 'The destination cannot reach the VM\'s disks. Shared storage needs a VM created with pool "shared" and the same --shared-storage directory on both hosts; otherwise migrate with storage "local" (the disks are mirrored to the destination).',
  },
  MIGRATION_FAILED: { status: 502, message: 'The live migration failed before switchover; the VM keeps running on the source host. The detail says what broke.' },
  MIGRATION_STALLED: {
    status: 504,
    message: 'The live migration moved no data for too long (the network to the destination may be down); it was rolled back and the VM keeps running on the source host.',
  },
  MIGRATION_CANCELLED: { status: 409, message: 'The live migration was cancelled; the VM keeps running on the source host.' },
  MIGRATION_FINISHED: { status: 409, message: 'The migration has already finished; there is nothing left to cancel or finish.' },
  MIGRATION_PAST_SWITCHOVER: {
    status: 409,
    message: 'The migration has switched over to the destination and can no longer be cancelled. Wait for it to finish.',
  },
  MIGRATION_POSTCOPY_FAILED: {
    status: 500,
    message: 'The migration failed during post-copy, when the guest\'s memory was split between the hosts; the guest is lost. Restart the VM from its disks.',
  },
  MIGRATION_UNRESOLVED: {
    status: 500,
    message: 'The migration reached switchover but the destination\'s answer was lost; the VM stays paused and held on the source while Drover asks the destination where it runs, then stops it there or resumes it here. Killing it on the source ends the wait.',
  },

  // QMP
  QMP_ERROR: { status: 502, message: 'QEMU refused the command; see the detail.' },
  QMP_DISCONNECTED: { status: 503, message: 'The connection to QEMU\'s monitor was lost.' },
  QMP_TIMEOUT: { status: 504, message: 'QEMU did not answer the monitor command in time.' },

  // host / agent
  NO_HOST_AVAILABLE: {
    status: 409,
    message: 'No host can take this VM now: none is ready, or none has the room. Check `drover host list`, or free some capacity.',
  },
  HOST_HAS_VMS: { status: 409, message: 'The host still has VMs. Move or delete them first.' },
  HOST_NOT_READY: { status: 409, message: 'The host is joining or offline; only a ready host can enter maintenance. Check `drover host list`.' },
  HOST_NOT_IN_MAINTENANCE: { status: 409, message: 'The host is not in maintenance, so there is nothing to exit.' },
  HOST_BUSY: { status: 409, message: 'Another operation on this host is running. Wait for it or cancel it with `drover operation cancel`.' },
  BALANCE_BUSY: { status: 409, message: 'A balancing run is already in progress. Wait for it or cancel it with `drover operation cancel`.' },
  EVACUATION_INCOMPLETE: {
    status: 409,
    message: 'Some VMs cannot leave the host (the detail says which and why), so nothing was changed. Fix that, or enter maintenance with --force to leave them running there.',
  },
  CONTROLLER_UNREACHABLE: {
    status: 503,
    message: 'The controller cannot be reached (the detail names each URL tried and why). Start it with `drover up`, or check DROVER_URL or --controller.',
  },
  HOST_UNREACHABLE: { status: 503, message: 'The host agent cannot be reached. Check that `drover agent` runs on the host.' },
  HOST_CREDENTIAL_REJECTED: { status: 502, message: 'The host agent refused the controller\'s credential. Another agent may answer at its address: check `drover host show`, or remove the host and join it again.' },

  // joining hosts
  JOIN_TOKEN_INVALID: {
    status: 401,
    message: 'The join token is not recognised. Mint one with `drover host join-token` and pass it to `drover agent --join-token`.',
  },
  JOIN_TOKEN_USED: { status: 401, message: 'The join token has already been used; each one joins one host. Mint a new one with `drover host join-token`.' },
  JOIN_TOKEN_EXPIRED: { status: 401, message: 'The join token has expired. Mint a new one with `drover host join-token`.' },
  JOIN_AGENT_UNREACHABLE: {
    status: 502,
    message: 'The controller cannot reach the joining agent at the address it gave. Check the agent\'s --listen/--advertise address and that the controller can route to it.',
  },
  JOIN_AGENT_REJECTED: { status: 422, message: 'The joining agent refused the token it handed over, or did not answer as a Drover agent.' },

  // fencing (ClusterLabs fence agents)
  FENCE_AGENT_NOT_FOUND: {
    status: 422,
    message: 'No fence agent of that name is installed. Names look like fence_ipmilan; install Debian\'s fence-agents package, or put the agent in the configured agent directory.',
  },
  FENCE_OPTION_INVALID: {
    status: 400,
    message: 'A fence device option is not allowed; the detail names it and why. Options are key=value: keys of lowercase letters, digits, "_" and "-", values on one line; Drover sets the action itself and passes no option that names a program or file for the agent to run or write.',
  },
  FENCE_AGENT_FAILED: {
    status: 502,
    message: 'The fence agent reported an error: it could not reach or log in to the fence device, or answered in a way Drover does not understand. The detail holds its exit code and the end of its output, with secrets removed.',
  },
  FENCE_AGENT_TIMEOUT: {
    status: 504,
    message: 'The fence agent did not finish in time and was killed. A timeout is never taken as a fenced host; check that the fence device is reachable, or raise the timeout.',
  },
  FENCE_NOT_CONFIRMED: {
    status: 504,
    message: 'The fence device never reported the host off in time, so the host is not taken as fenced. Check the device and the host\'s power, then fence again.',
  },
  FENCE_CANCELLED: {
    status: 409,
    message: 'The fence was cancelled and its agent killed, so the host is not taken as fenced; its power state is unknown until `drover host fence test HOST` reads it.',
  },
  HOST_BEING_FENCED: { status: 409, message: 'The host is being fenced through this device right now. Test the device once the fence has finished.' },
  HOST_FENCE_NOT_SET: {
    status: 404,
    message: 'The host has no fence device. Set one with `drover host fence set HOST --agent NAME --option key=value...`.',
  },

  // watchdog (the host's reset timer, for HA)
  WATCHDOG_UNAVAILABLE: {
    status: 409,
    message: 'The watchdog cannot be used: the device is missing or held by another program, its timeout is longer than asked for or cannot be read, or the file of a simulated one cannot be written; the detail says which. Pass --watchdog none to run without one.',
  },

  // testbed
  TESTBED_EXISTS: { status: 409, message: 'A testbed already runs from this directory. Run `drover testbed down` first, or pick another --dir.' },
  TESTBED_NOT_FOUND: { status: 404, message: 'No testbed in this directory. Start one with `drover testbed up`.' },
  TESTBED_CONTROLLER_UNREACHABLE: {
    status: 503,
    message: 'The testbed\'s hosts cannot reach the controller through the testbed bridge. Start the controller with `drover up --listen 0.0.0.0`, or pass --controller-url.',
  },
  TESTBED_HOST_FAILED: { status: 500, message: 'A testbed host\'s agent exited or did not join in time; the detail holds the end of its log. The testbed was taken down.' },
  TESTBED_HARDWARE_FAILED: {
    status: 500,
    message: 'The testbed\'s simulated hardware daemon (fence switch records and watchdogs) exited or did not start; the detail holds the end of its log (<dir>/hardware.log). The testbed was taken down.',
  },
  TESTBED_FAULT_REFUSED: {
    status: 409,
    message: 'That fault does not fit the testbed host\'s state (power-on of a host that runs, thaw of one not frozen...); the detail says why. `drover testbed status` shows each host\'s faults.',
  },
  // high availability
  HA_DISK_NOT_SHARED: {
    status: 409,
    message: 'Only a VM whose disks are all on shared storage can be HA-protected: another host must be able to start it. Create it with --pool shared.',
  },
  HA_POOL_UNKNOWN: { status: 409, message: 'The VM has a disk in a storage pool no host reports, so no other host could start it.' },
  HA_POOL_SINGLE_HOST: { status: 409, message: 'The VM\'s shared pool is reached by no other host, so there is nowhere to restart it. Join another host with the same --shared-storage.' },
  HA_SETTINGS_INVALID: { status: 400, message: 'Invalid HA settings: priority is 1 (restarts last) to 5 (first), isolation is keep-running or power-off.' },
  HA_ADMISSION_REFUSED: {
    status: 409,
    message: 'Admission control refused it: the cluster would no longer have room to restart the HA VMs of the hosts it must survive (cluster policy --ha-host-failures). The detail has the figures.',
  },
  HA_HOST_NOT_DOWN: { status: 409, message: 'The host still renews its lease or writes its storage heartbeat, so it is not down. Confirm a host down only when it is powered off.' },
  HA_STALE_GENERATION: {
    status: 409,
    message: 'HA has started this VM elsewhere at a newer generation since; this instance must not run. The VM runs (or is being started) on another host.',
  },
  HA_LEASE_LOST: {
    status: 409,
    message: 'This host has lost its lease with the controller, so it starts and resumes nothing: HA may be restarting its VMs elsewhere. It accepts again once it renews.',
  },
  HA_NO_LEASE: { status: 409, message: 'This agent keeps no HA lease: it was not started to join a controller (--controller).' },
  HA_STATE_INVALID: { status: 500, message: 'The saved HA state could not be read. HA starts afresh from what hosts report.' },
  HA_LEASE_REJECTED: { status: 401, message: 'The lease renewal does not carry this host\'s credential. Re-join the host.' },
  ACCELERATOR_UNAVAILABLE: { status: 409, message: 'The requested accelerator is not available on this host.' },
  DEPENDENCY_MISSING: { status: 500, message: 'A required program is missing. Run `bash scripts/setup`.' },
  INTERNAL: { status: 500, message: 'Internal error. This is a bug in Drover; please report it with the detail.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a stable code from ERRORS; `detail` says what exactly went wrong. */
export class DroverError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const entry = ERRORS[code];
    super(detail ? `${entry.message} (${detail})` : entry.message, options);
    this.name = 'DroverError';
    this.code = code;
    this.status = entry.status;
    this.detail = detail;
  }

  /** The JSON shape every API error takes. */
  toJSON(): { code: ErrorCode; message: string; detail?: string } {
    return { code: this.code, message: ERRORS[this.code].message, ...(this.detail ? { detail: this.detail } : {}) };
  }
}

/** True when `err` is a DroverError with the given code. */
export function isDroverError(err: unknown, code?: ErrorCode): err is DroverError {
  return err instanceof DroverError && (code === undefined || err.code === code);
}
