import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeConsoleLog } from './conmon.js';

test("conmon's k8s-file log decodes back to what the console printed: partial lines joined, full lines ended", () => {
  const log = [
    '2026-12-07T10:26:11.766789231+00:00 stdout F Debian GNU/Linux 12 c1 console\r',
    '2026-12-07T10:26:11.766789231+00:00 stdout P c1 login: ',
    '2026-12-07T10:26:12.000000000+00:00 stdout P roo',
    '2026-12-07T10:26:12.100000000+00:00 stdout F t\r',
    '2026-12-07T10:26:12.200000000+00:00 stdout F ',
    '',
  ].join('\n');
  assert.equal(decodeConsoleLog(log), 'Debian GNU/Linux 12 c1 console\r\nc1 login: root\r\n\n');
});
