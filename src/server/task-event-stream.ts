import type { OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { Engine } from '../engine/index.js';
import { TidewayApiError } from '../protocol/index.js';
import { streamTaskEventsRoute } from './routes.js';

/** How long the stream waits for a new event before sending a keep-alive comment. */
const IDLE_PING_MS = 15_000;

/**
 * GET …/events/stream: a run's task events as Server-Sent Events. The seq
 * is each message's id, so a client that reconnects with Last-Event-ID
 * gets every event after it, once, in order, from any replica. The stream
 * ends with a `done` message when the run has closed and its last event
 * was sent.
 */
export function registerTaskEventStream(app: OpenAPIHono, engine: Engine): void {
  app.openapi(streamTaskEventsRoute, async (c) => {
    const { namespace, workflowId } = c.req.valid('param');
    const query = c.req.valid('query');
    const lastEventId = c.req.valid('header')['last-event-id'];
    let after = lastEventId !== undefined ? Number(lastEventId) : (query.after ?? 0);
    // Read the first page before answering, so an unknown workflow is a plain 404, not a broken stream.
    let page = await engine.listTaskEvents(namespace, { workflowId, runId: query.runId, after });
    return streamSSE(c, async (stream) => {
      const hangUp = new AbortController();
      stream.onAbort(() => hangUp.abort());
      try {
        for (;;) {
          for (const event of page.events) {
            await stream.writeSSE({ event: 'task-event', id: String(event.seq), data: JSON.stringify(event) });
            after = event.seq;
          }
          if (page.done) {
            await stream.writeSSE({ event: 'done', data: JSON.stringify({ runId: page.runId, lastSeq: after }) });
            return;
          }
          if (hangUp.signal.aborted) return;
          page = await engine.listTaskEvents(
            namespace,
            { workflowId, runId: page.runId, after, waitMs: IDLE_PING_MS },
            hangUp.signal,
          );
          if (page.events.length === 0 && !page.done) await stream.write(': ping\n\n');
        }
      } catch (error) {
        // The engine shutting down (or another refusal) ends the stream without `done`: the client
        // resumes from its last seq elsewhere, and the first page of that request reports what is wrong.
        if (error instanceof TidewayApiError) return;
        throw error;
      }
    }) as never;
  });
}
