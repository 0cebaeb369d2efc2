/**
 * The Node flags `bin/drover` gives every Drover process, read from the launcher itself so that a benchmark's
 * controller, forked from TypeScript rather than started through the launcher, runs as a real one does.
 */
import fs from 'node:fs';

const LAUNCHER = new URL('../../bin/drover', import.meta.url);

/** The flags before the script on the launcher's `exec node ...` line (e.g. `--max-semi-space-size=64`). */
export function launcherNodeFlags(): string[] {
  const text = fs.readFileSync(LAUNCHER, 'utf8');
  const line = text.split('\n').find((l) => /^exec node /.test(l));
  if (!line) throw new Error(`${LAUNCHER.pathname} has no "exec node ..." line`);
  return line.split(/\s+/).filter((word) => word.startsWith('--'));
}
