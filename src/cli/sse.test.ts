import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseParser } from './sse.js';

describe('SseParser', () => {
  it('parses messages with id, event and multi-line data, skipping comments', () => {
    const parser = new SseParser();
    const messages = parser.push(': connected\n\nid: 7\nevent: event\ndata: {"a":1}\n\n: heartbeat\n\ndata: one\ndata: two\n\n');
    assert.deepEqual(messages, [
      { id: '7', event: 'event', data: '{"a":1}' },
      { id: undefined, event: 'message', data: 'one\ntwo' },
    ]);
    assert.equal(parser.lastEventId, '7');
  });

  it('reassembles messages cut anywhere, including between \\r and \\n', () => {
    const text = 'id: 1\r\nevent: event\r\ndata: {"x":"y"}\r\n\r\nid: 2\r\nevent: event\r\ndata: {}\r\n\r\n';
    for (let cut = 1; cut < text.length; cut++) {
      const parser = new SseParser();
      const messages = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      assert.deepEqual(
        messages.map((m) => [m.id, m.data]),
        [
          ['1', '{"x":"y"}'],
          ['2', '{}'],
        ],
        `cut at ${cut}`,
      );
    }
  });

  it('dispatches nothing for a message without data, and waits for the blank line', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('event: ping\n\n'), []);
    assert.deepEqual(parser.push('data: x\n'), []);
    assert.deepEqual(parser.push('\n'), [{ id: undefined, event: 'message', data: 'x' }]);
  });
});
