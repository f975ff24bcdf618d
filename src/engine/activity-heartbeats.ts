import {
  type HeartbeatActivityTaskRequest,
  HeartbeatActivityTaskRequestSchema,
  type HeartbeatActivityTaskResponse,
  JSON_ENCODING,
  type Payload,
  TidewayApiError,
} from '../protocol/index.js';
import { recordHeartbeat } from '../store/index.js';
import { checkNamespace, checkPayloadSize, type EngineContext } from './context.js';
import { parseRequest } from './parse.js';
import { queueTaskEvent } from './task-events.js';
import { decodeTaskToken } from './task-token.js';

/** Records progress and keeps the heartbeat timeout from firing. */
export async function heartbeatActivityTask(
  ctx: EngineContext,
  ns: string,
  raw: HeartbeatActivityTaskRequest,
): Promise<HeartbeatActivityTaskResponse> {
  checkNamespace(ns);
  const request = parseRequest(HeartbeatActivityTaskRequestSchema, raw, 'heartbeat');
  checkPayloadSize(ctx, request.details, 'the heartbeat details');
  const token = decodeTaskToken(request.taskToken, 'activity', ns);
  const now = ctx.clock.now();
  return ctx.transition(async (tx) => {
    const held = await recordHeartbeat(tx, {
      namespace: ns,
      runId: token.runId,
      scheduledEventId: token.scheduledEventId,
      leaseId: token.leaseId,
      now,
      details: request.details,
    });
    if (!held) {
      throw new TidewayApiError(
        'NotFound',
        'activity task is no longer leased by this worker (it finished, timed out and was retried, or its workflow ' +
          'closed); stop working on it',
      );
    }
    // Heartbeats keep the attempt alive as often as they come, but watchers get at most one per second:
    // a caller heartbeating in a tight loop over HTTP must not fill the event table.
    const previous = held.previousHeartbeatAt === null ? undefined : Number(held.previousHeartbeatAt);
    if (previous !== undefined && now - previous < HEARTBEAT_EVENT_INTERVAL_MS)
      return { cancelRequested: held.cancelRequested };
    queueTaskEvent(
      tx,
      { namespace: ns, runId: token.runId, workflowId: held.workflowId },
      {
        source: 'activity',
        kind: 'heartbeat',
        activityId: held.activityId,
        activityType: held.activityType,
        attempt: held.attempt,
        ...(request.details ? { data: displayPayload(request.details) } : {}),
      },
      { now },
    );
    return { cancelRequested: held.cancelRequested };
  });
}

/** Watchers see at most one heartbeat event per attempt per this interval. */
const HEARTBEAT_EVENT_INTERVAL_MS = 1000;
/** Heartbeat details larger than this are summarised in the event (the details themselves are kept in full). */
const HEARTBEAT_EVENT_DATA_BYTES = 4096;

/** Heartbeat details as people watching should see them: the value (if small), unless a codec encoded it. */
function displayPayload(payload: Payload): unknown {
  if (payload.encoding !== JSON_ENCODING) return { encoding: payload.encoding };
  const bytes = Buffer.byteLength(JSON.stringify(payload.data) ?? '');
  return bytes <= HEARTBEAT_EVENT_DATA_BYTES ? payload.data : { omitted: `${bytes} bytes of heartbeat details` };
}
