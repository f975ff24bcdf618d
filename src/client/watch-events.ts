import { type TaskEvent, type TidewayApi, TidewayApiError } from '../protocol/index.js';

export interface WatchEventsOptions {
  /** Resume after this seq (the last one you saw); default: from the start. */
  after?: number;
  /** A specific run; default: the run that is latest when watching starts. */
  runId?: string;
  /** Stops watching (the iterator throws the abort reason). */
  signal?: AbortSignal;
  /** Give up after the server has been unreachable this long (default 2 minutes). */
  reconnectForMs?: number;
}

/** Transports that can stream task events (HTTP: Server-Sent Events). */
interface StreamingApi {
  streamTaskEvents(
    namespace: string,
    request: { workflowId: string; runId?: string | undefined; after?: number | undefined },
    signal?: AbortSignal,
  ): AsyncIterable<TaskEvent>;
}

/** How long one long-poll for events waits when the transport cannot stream. */
const LONG_POLL_MS = 30_000;

/**
 * Yields a run's task events in seq order, each once, and ends when the run
 * has closed and its last event was yielded. A dropped connection (a server
 * restart, a network blip) is resumed from the last seq, with backoff.
 */
export async function* watchTaskEvents(
  api: TidewayApi,
  namespace: string,
  workflowId: string,
  options: WatchEventsOptions = {},
): AsyncGenerator<TaskEvent, void, undefined> {
  const { signal } = options;
  const stream = (api as Partial<StreamingApi>).streamTaskEvents?.bind(api);
  const reconnectForMs = options.reconnectForMs ?? 120_000;
  let runId = options.runId;
  let after = options.after ?? 0;
  let failingSince: number | undefined;
  let failures = 0;
  for (;;) {
    signal?.throwIfAborted();
    try {
      // Pin the run first: after a reconnect the latest run of the id may be another one.
      runId ??= (await api.describeWorkflow(namespace, { workflowId })).runId;
      if (stream) {
        for await (const event of stream(namespace, { workflowId, runId, after }, signal)) {
          after = event.seq;
          failingSince = undefined;
          failures = 0;
          yield event;
        }
        return;
      }
      const page = await api.listTaskEvents(namespace, { workflowId, runId, after, waitMs: LONG_POLL_MS }, signal);
      failingSince = undefined;
      failures = 0;
      for (const event of page.events) {
        after = event.seq;
        yield event;
      }
      if (page.done) return;
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error;
      if (!(error instanceof TidewayApiError) || error.code !== 'Unavailable') throw error;
      failingSince ??= Date.now();
      if (Date.now() - failingSince > reconnectForMs) throw error;
      failures++;
      await delay(Math.min(5000, 100 * 2 ** Math.min(failures, 6)), signal);
    }
  }
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
