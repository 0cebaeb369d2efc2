import fs from 'node:fs';
import type { VmSpec, VmState } from '../../vms/spec.js';

/** What the driver persists per VM so a restarted agent can find and judge its guests. */
export interface RuntimeFile {
  spec: VmSpec;
  state: VmState;
  accelerator: 'kvm' | 'tcg';
  guestReady: boolean;
  pid?: number;
  startedAt?: string;
  crashReason?: string;
  crashedAt?: string;
}

/** Reads runtime.json; undefined when missing or unreadable (a torn write never happens: see write). */
export function readRuntimeFile(file: string): RuntimeFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RuntimeFile;
  } catch {
    return undefined;
  }
}

/** Writes runtime.json atomically (temp file, then rename). */
export function writeRuntimeFile(file: string, content: RuntimeFile): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(content, null, 2));
  fs.renameSync(tmp, file);
}
