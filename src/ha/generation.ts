/**
 * Never twice: every start of an HA VM carries a generation, and the engine issues a new one for
 * each restart decision. An agent checks a start or resume against the newest generation it knows
 * (the VM's record on shared storage, which every start updates), so a start that arrives late,
 * or a QEMU left from before a failover, can never run the guest next to its successor.
 */

/** The agent's answer to a start or resume. */
export type GenerationVerdict = { allowed: true } | { allowed: false; code: 'HA_STALE_GENERATION'; reason: string };

/**
 * Whether `vmId` may start or resume at `requested` when the newest generation known is `newest`
 * (undefined: none known). Equal is allowed, so a start sent twice starts one instance; the agent
 * must treat a start of an instance it already runs at that generation as done.
 */
export function checkStartGeneration(vmId: string, requested: number, newest: number | undefined): GenerationVerdict {
  if (!Number.isInteger(requested) || requested < 1) {
    return { allowed: false, code: 'HA_STALE_GENERATION', reason: `VM ${vmId}: generation ${requested} is not a generation HA issued` };
  }
  if (newest === undefined || requested >= newest) return { allowed: true };
  return {
    allowed: false,
    code: 'HA_STALE_GENERATION',
    reason: `VM ${vmId}: generation ${requested} is older than generation ${newest}, which HA started elsewhere after a failover; this instance must not run`,
  };
}

/** The newest generation after a start at `started` was allowed: what the agent writes back to the VM's record. */
export function newestAfterStart(newest: number | undefined, started: number): number {
  return Math.max(newest ?? 0, started);
}
