/** Who caused a change: a token's name, or `system` for the controller's own work. */
export interface Actor {
  readonly name: string;
  /** The API request the change came from, when there was one; events carry it for correlation. */
  readonly requestId?: string;
}

/** The actor for changes the controller makes on its own (restart recovery, health checks). */
export const SYSTEM_ACTOR: Actor = { name: 'system' };
