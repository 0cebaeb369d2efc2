import crypto from 'node:crypto';

/** A stable, locally administered MAC in QEMU's 52:54:00 range for NIC `index` of VM `id`. */
export function macFor(id: string, index: number): string {
  const hash = crypto.createHash('sha256').update(`${id}/${index}`).digest();
  const tail = [hash[0], hash[1], hash[2]].map((b) => (b ?? 0).toString(16).padStart(2, '0'));
  return ['52', '54', '00', ...tail].join(':');
}
