import { describe, expect, test } from 'vitest';
import { parseSse } from './sse.js';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function messages(chunks: string[]) {
  const out = [];
  for await (const message of parseSse(streamOf(chunks))) out.push(message);
  return out;
}

describe('parseSse', () => {
  const text = 'event: task-event\nid: 1\ndata: {"seq":1}\n\n: ping\n\nevent: done\ndata: {}\n\n';

  test('splits messages, keeps ids, skips comments', async () => {
    expect(await messages([text])).toEqual([
      { event: 'task-event', id: '1', data: '{"seq":1}' },
      { event: 'done', id: undefined, data: '{}' },
    ]);
  });

  test('gives the same messages however the bytes are chunked, with \\r\\n line ends too', async () => {
    const expected = await messages([text]);
    for (let size = 1; size < 12; size++) {
      const chunks = text.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];
      expect(await messages(chunks)).toEqual(expected);
      const crlf = text.replaceAll('\n', '\r\n').match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];
      expect(await messages(crlf)).toEqual(expected);
    }
  });

  test('joins multi-line data and decodes characters split across chunks', async () => {
    const bytes = new TextEncoder().encode('data: a\ndata: ✓b\n\n');
    const split = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 15));
        controller.enqueue(bytes.slice(15));
        controller.close();
      },
    });
    const out = [];
    for await (const message of parseSse(split)) out.push(message);
    expect(out).toEqual([{ event: 'message', id: undefined, data: 'a\n✓b' }]);
  });
});
