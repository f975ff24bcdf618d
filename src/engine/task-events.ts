import {
  type ListTaskEventsRequest,
  ListTaskEventsRequestSchema,
  type RecordActivityEventsRequest,
  RecordActivityEventsRequestSchema,
  type RecordActivityEventsResponse,
  type ReportedTaskEvent,
  TASK_EVENT_LIMITS,
  type TaskEventPage,
  TidewayApiError,
} from '../protocol/index.js';
import {
  appendTaskEventsLater,
  chargeActivityOutput,
  getTaskEventStream,
  type NewTaskEvent,
  type Queryable,
  readTaskEvents,
  watchTaskEvents,
} from '../store/index.js';
import { checkNamespace, type EngineContext, payloadBytes } from './context.js';
import { NOTIFY_CHANNEL, notifyKeys } from './notifier.js';
import { parseRequest } from './parse.js';
import { decodeTaskToken } from './task-token.js';
import { requireRun } from './visibility.js';

/** The run a task event belongs to. */
export interface TaskEventRun {
  namespace: string;
  runId: string;
  workflowId: string;
}

interface PendingStream extends TaskEventRun {
  events: NewTaskEvent[];
  close: boolean;
}

/**
 * Task events queued by the transition running on a transaction; the
 * transition writes them in one statement per run just before it commits,
 * so they land (numbered) exactly when the state change they describe does.
 */
const pendingByTransaction = new WeakMap<Queryable, Map<string, PendingStream>>();

export function queueTaskEvent(
  tx: Queryable,
  run: TaskEventRun,
  event: Omit<NewTaskEvent, 'time'> & { time?: number },
  options: { now: number; close?: boolean },
): void {
  let byRun = pendingByTransaction.get(tx);
  if (!byRun) {
    byRun = new Map();
    pendingByTransaction.set(tx, byRun);
  }
  const key = `${run.namespace}\u001f${run.runId}`;
  let stream = byRun.get(key);
  if (!stream) {
    stream = { namespace: run.namespace, runId: run.runId, workflowId: run.workflowId, events: [], close: false };
    byRun.set(key, stream);
  }
  // The run's closing event is its last: whatever the same transition queues after it is dropped, as a
  // later transition's events are (its stream is closed by then).
  if (stream.close) return;
  // A reporter's clock may be ahead: an event is never dated after the server took it, so retention
  // (by age) cannot miss it.
  const time = Math.min(event.time ?? options.now, options.now);
  stream.events.push({ ...event, time, data: boundedData(event.data) });
  if (options.close) stream.close = true;
}

/**
 * Writes what `queueTaskEvent` collected on this transaction. The runs'
 * watchers in this process are woken through `notifyLocal` after the
 * commit; those of other replicas by the append itself, which notifies only
 * streams someone watches (see `watchTaskEvents`).
 */
export async function flushTaskEvents(tx: Queryable, now: number, notifyLocal: (key: string) => void): Promise<void> {
  const byRun = pendingByTransaction.get(tx);
  if (!byRun) return;
  pendingByTransaction.delete(tx);
  for (const stream of byRun.values()) {
    const key = notifyKeys.taskEvents(stream.namespace, stream.runId);
    // A closed stream takes nothing more: a late event of a closed run is dropped, as intended (its
    // watchers are then woken for nothing, and find nothing new). Sent with the COMMIT.
    await appendTaskEventsLater(tx, { ...stream, wake: { channel: NOTIFY_CHANNEL, key, now } });
    notifyLocal(key);
  }
}

/** Forgets what a failed transition queued (its transaction rolled back). */
export function discardTaskEvents(tx: Queryable): void {
  pendingByTransaction.delete(tx);
}

/** Heartbeat details and milestone data are for people watching: large values are summarised, not stored. */
function boundedData(data: unknown): unknown {
  if (data === undefined) return undefined;
  const bytes = jsonBytes(data);
  if (bytes === undefined) return { omitted: 'not encodable as JSON' };
  return bytes <= TASK_EVENT_LIMITS.maxDataBytes ? data : { omitted: `${bytes} bytes, over the task event limit` };
}

/** Bytes of `value` as JSON; undefined when it cannot be encoded (a BigInt, a cycle), which only in-process callers can send. */
function jsonBytes(value: unknown): number | undefined {
  try {
    return payloadBytes(value);
  } catch {
    return undefined;
  }
}

/** Limits the server applies to one activity attempt's reported events. */
export interface OutputBudget {
  /** Bytes of events one activity (all its attempts) may report per window. */
  bytesPerWindow: number;
  windowMs: number;
}

export const DEFAULT_OUTPUT_BUDGET: OutputBudget = { bytesPerWindow: 1024 * 1024, windowMs: 60_000 };

/** What an event costs against the budget: its text and data, plus a fixed overhead per row. */
function eventCost(event: ReportedTaskEvent): number {
  return 64 + Buffer.byteLength(event.message ?? '') + payloadBytes(event.data);
}

/**
 * Stores progress, milestones and output of a leased activity attempt.
 * Over the activity's output budget, stdout/stderr are dropped (and counted)
 * while milestones and progress still go in: a chatty activity cannot
 * flood the database, and the important events still arrive.
 */
export async function recordActivityEvents(
  ctx: EngineContext,
  budget: OutputBudget,
  namespace: string,
  raw: RecordActivityEventsRequest,
): Promise<RecordActivityEventsResponse> {
  checkNamespace(namespace);
  const request = parseRequest(RecordActivityEventsRequestSchema, raw, 'activity events');
  for (const [i, event] of request.events.entries()) {
    const bytes = jsonBytes(event.data);
    if (bytes === undefined) {
      throw new TidewayApiError('InvalidArgument', `events.${i}.data cannot be encoded as JSON; send plain JSON data`);
    }
    if (bytes > TASK_EVENT_LIMITS.maxDataBytes) {
      throw new TidewayApiError(
        'PayloadTooLarge',
        `events.${i}.data is ${bytes} bytes, over the ${TASK_EVENT_LIMITS.maxDataBytes}-byte limit for task event data; send a summary`,
      );
    }
  }
  const token = decodeTaskToken(request.taskToken, 'activity', namespace);
  const now = ctx.clock.now();
  return ctx.transition(async (tx) => {
    const other = request.events.filter((e) => e.kind !== 'stdout' && e.kind !== 'stderr');
    const charged = await chargeActivityOutput(tx, {
      namespace,
      runId: token.runId,
      scheduledEventId: token.scheduledEventId,
      leaseId: token.leaseId,
      now,
      bytes: request.events.reduce((sum, e) => sum + eventCost(e), 0),
      budgetBytes: budget.bytesPerWindow,
      windowMs: budget.windowMs,
    });
    if (!charged) {
      throw new TidewayApiError(
        'NotFound',
        'activity task is no longer leased by this worker (it finished, timed out and was retried, or its workflow ' +
          'closed); its events were not recorded',
      );
    }
    // Over budget, output is dropped; milestones and progress (small, and coalesced by the SDK) still go in.
    const kept = charged.allowed ? request.events : other;
    const run = { namespace, runId: token.runId, workflowId: charged.workflowId };
    for (const event of kept) {
      queueTaskEvent(
        tx,
        run,
        {
          source: 'activity',
          kind: event.kind,
          activityId: charged.activityId,
          activityType: charged.activityType,
          attempt: charged.attempt,
          message: event.message,
          data: event.data,
          ...(event.time !== undefined ? { time: event.time } : {}),
        },
        { now },
      );
    }
    const dropped = request.events.length - kept.length;
    if (charged.firstDrop && dropped > 0) {
      queueTaskEvent(
        tx,
        run,
        {
          source: 'activity',
          kind: 'stderr',
          activityId: charged.activityId,
          activityType: charged.activityType,
          attempt: charged.attempt,
          message:
            `[tideway] output over this activity's limit of ${budget.bytesPerWindow} bytes per ` +
            `${Math.round(budget.windowMs / 1000)} s; output is dropped until ${new Date(charged.windowEndsAt).toISOString()}\n`,
        },
        { now },
      );
    }
    return {
      accepted: kept.length,
      dropped,
      ...(dropped > 0 ? { retryAfterMs: Math.max(0, charged.windowEndsAt - now) } : {}),
      cancelRequested: charged.cancelRequested,
    };
  });
}

/**
 * How long past its wait a watcher's mark lasts: covers the clock skew
 * between replicas (a mark is compared with the appender's clock). A mark
 * that outlives its watcher costs only notifications nobody reads.
 */
const WATCH_SLACK_MS = 30_000;

/**
 * A page of a run's task events after `after`. With `waitMs`, an empty page
 * waits for the next event (or the run's end) before returning.
 */
export async function listTaskEvents(
  ctx: EngineContext,
  namespace: string,
  raw: ListTaskEventsRequest,
  signal?: AbortSignal,
): Promise<TaskEventPage> {
  const request = parseRequest(ListTaskEventsRequestSchema, raw, 'task event request');
  const run = await requireRun(ctx, namespace, request);
  const deadline = Date.now() + request.waitMs;
  const stop = signal ? AbortSignal.any([signal, ctx.closing]) : ctx.closing;
  let watching = false;
  for (;;) {
    // Subscribe before reading so an event committed in between still wakes us.
    const subscription = ctx.notifier.subscribe(notifyKeys.taskEvents(namespace, run.runId));
    try {
      // A watcher that may wait marks the stream first, so appends on other replicas notify it; this
      // replica's own appends wake it either way. (One process on PGlite: nobody else appends.)
      if (!watching && request.waitMs > 0 && ctx.db.kind === 'postgres') {
        await watchTaskEvents(ctx.db, namespace, run.runId, ctx.clock.now() + request.waitMs + WATCH_SLACK_MS);
        watching = true;
      }
      // Whether the stream has ended is read before its events: the run's last events and the closed flag
      // commit together and nothing is appended after them, so events read afterwards include them all.
      // (The other way round, a close committing between the two reads would end a watcher before its last
      // events.) Runs from before task events existed have no stream: they are over when the run is.
      const stream = await getTaskEventStream(ctx.db, namespace, run.runId);
      const lastSeq = stream?.lastSeq ?? 0;
      if (request.after > lastSeq) {
        throw new TidewayApiError(
          'InvalidArgument',
          `after ${request.after} is past the last task event of run ${run.runId} of workflow "${run.workflowId}" ` +
            `(seq ${lastSeq}); seqs number the events of one run: resume with the runId of the run the seq came ` +
            'from, or from 0',
          { runId: run.runId, lastSeq },
        );
      }
      const closed = stream
        ? stream.closed
        : (await requireRun(ctx, namespace, { runId: run.runId, workflowId: run.workflowId })).status !== 'running';
      const events = await readTaskEvents(ctx.db, namespace, run.runId, request.after, request.limit);
      // Done when the run's last event was written and nothing newer is left to read (retention may have
      // removed older ones).
      const done = closed && events.length < request.limit;
      const remaining = deadline - Date.now();
      if (events.length > 0 || done || remaining <= 0 || stop.aborted) {
        return { runId: run.runId, events, done };
      }
      await subscription.wait(remaining, stop);
    } finally {
      subscription.dispose();
    }
  }
}
