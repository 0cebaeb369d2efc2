/** A state or health word in a coloured pill; colour groups: ok, busy, off, bad. */
const TONES: Record<string, string> = {
  ok: 'ok',
  protected: 'ok',
  running: 'ok',
  healthy: 'ok',
  ready: 'ok',
  succeeded: 'ok',
  success: 'ok',
  starting: 'busy',
  stopping: 'busy',
  creating: 'busy',
  deleting: 'busy',
  queued: 'busy',
  joining: 'busy',
  started: 'busy',
  'in-progress': 'busy',
  maintenance: 'warn',
  paused: 'warn',
  degraded: 'warn',
  warning: 'warn',
  'cancel-requested': 'warn',
  suspect: 'warn',
  isolated: 'warn',
  waiting: 'warn',
  cancelled: 'off',
  stopped: 'off',
  unknown: 'off',
  offline: 'bad',
  crashed: 'bad',
  error: 'bad',
  failed: 'bad',
  failure: 'bad',
  unreachable: 'bad',
  fenced: 'bad',
  'confirmed-down': 'bad',
};

export function toneOf(word: string): string {
  return TONES[word] ?? 'off';
}

export function StateBadge({ state, id }: { state: string; id?: string }) {
  return (
    <span className={`badge ${toneOf(state)}`} data-state={state} id={id}>
      {state}
    </span>
  );
}
