/** Checks that two QEMU command lines describe the same VM, apart from what is unique to each VM instance. */

/** Replaces per-instance values (file paths, MAC address, VM name) with placeholders. */
function normalize(arg: string): string {
  return arg
    .split(',')
    .map((part) =>
      part
        .replace(/drover\.hostname=\S+/g, 'drover.hostname=<name>')
        .replace(/^guest=.*$/, 'guest=<name>')
        .replace(/^mac=.*$/, 'mac=<mac>')
        .replace(/^(\w+[=:])?\/\S*$/, (_match, prefix: string | undefined) => `${prefix ?? ''}<path>`),
    )
    .join(',');
}

/** Null when `a` and `b` match after normalization, else the first differing position, e.g. "arg 12: X vs Y". */
export function commandLineDifference(a: string[], b: string[]): string | null {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const left = a[i] === undefined ? '(missing)' : normalize(a[i] as string);
    const right = b[i] === undefined ? '(missing)' : normalize(b[i] as string);
    if (left !== right) return `argument ${i + 1}: "${left}" vs "${right}"`;
  }
  return null;
}
