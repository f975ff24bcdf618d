import { type ErrorBody, type TaskEvent, TidewayApiError } from '../protocol/index.js';

/** One message of a Server-Sent Events stream. */
interface SseMessage {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * Reads a task event stream: yields each `task-event` message and returns
 * at the server's `done` message. A stream that breaks before `done` throws
 * an Unavailable error (the caller resumes from the last seq it saw).
 */
export async function* readTaskEventStream(
  url: URL,
  headers: Record<string, string>,
  signal?: AbortSignal,
): AsyncGenerator<TaskEvent> {
  let response: Response;
  try {
    response = await fetch(url, { headers, ...(signal ? { signal } : {}) });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw unavailable(url, error);
  }
  if (!response.ok || !response.body) {
    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (body && typeof body === 'object' && 'error' in body) {
      throw TidewayApiError.fromBody(body as ErrorBody, response.status);
    }
    throw new TidewayApiError(
      response.status >= 500 ? 'Unavailable' : 'InvalidArgument',
      `GET ${url.pathname} answered ${response.status}: ${text.slice(0, 200)}`,
    );
  }
  try {
    for await (const message of parseSse(response.body)) {
      if (message.event === 'done') return;
      if (message.event === 'task-event') yield JSON.parse(message.data) as TaskEvent;
    }
  } catch (error) {
    if (signal?.aborted) throw error;
    throw unavailable(url, error);
  }
  throw new TidewayApiError('Unavailable', `the event stream from ${url.host} ended before the run's last event`);
}

function unavailable(url: URL, error: unknown): TidewayApiError {
  const reason = (error as Error).cause ?? (error as Error).message;
  return new TidewayApiError('Unavailable', `lost the event stream from ${url.host} (${String(reason)})`);
}

/** Splits a byte stream into SSE messages (blank-line separated; comments and retry lines ignored). */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let message: SseMessage = { event: 'message', data: '', id: undefined };
  let hasData = false;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline = buffer.search(/\r\n|\r|\n/);
    while (newline >= 0) {
      // A trailing '\r' may be the first half of '\r\n': wait for the next chunk.
      if (buffer[newline] === '\r' && newline === buffer.length - 1) break;
      const line = buffer.slice(0, newline);
      const width = buffer.startsWith('\r\n', newline) ? 2 : 1;
      buffer = buffer.slice(newline + width);
      if (line === '') {
        if (hasData || message.event !== 'message') yield message;
        message = { event: 'message', data: '', id: undefined };
        hasData = false;
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') message.event = value;
        else if (field === 'id') message.id = value;
        else if (field === 'data') {
          message.data = hasData ? `${message.data}\n${value}` : value;
          hasData = true;
        }
      }
      newline = buffer.search(/\r\n|\r|\n/);
    }
  }
}
