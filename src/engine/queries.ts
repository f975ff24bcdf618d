import {
  type Payload,
  type QueryWorkflowRequest,
  QueryWorkflowRequestSchema,
  type RespondQueryTaskRequest,
  RespondQueryTaskRequestSchema,
  TidewayApiError,
  type WorkflowTask,
} from '../protocol/index.js';
import {
  answerQuery,
  claimQuery,
  deleteQuery,
  findRun,
  getQuery,
  insertQuery,
  type Queryable,
  recentPollerTypes,
} from '../store/index.js';
import { checkNamespace, checkPayloadSize, type EngineContext } from './context.js';
import { notifyKeys, queryHintKey } from './notifier.js';
import { parseRequest } from './parse.js';
import { decodeTaskToken, encodeTaskToken } from './task-token.js';

/** A worker that polled within this window counts as alive for a query. */
const LIVE_WORKER_WINDOW_MS = 60_000;

const queryAnswered = (namespace: string, queryId: string) => `q:${namespace}:${queryId}`;

/**
 * Runs a query: hands it to a worker polling the run's task queue, waits
 * for the answer, and cleans up. No history is written. Fails fast when no
 * worker that has the workflow type is polling; times out otherwise.
 */
export async function queryWorkflow(
  ctx: EngineContext,
  namespace: string,
  raw: { workflowId: string } & QueryWorkflowRequest,
): Promise<{ result: Payload }> {
  checkNamespace(namespace);
  const request = parseRequest(QueryWorkflowRequestSchema, raw, 'query request');
  checkPayloadSize(ctx, request.args, 'the query input');
  const run = await findRun(ctx.db, namespace, raw.workflowId, request.runId);
  if (!run) throw new TidewayApiError('NotFound', `workflow "${raw.workflowId}" not found in namespace "${namespace}"`);
  const pollers = await recentPollerTypes(ctx.db, {
    namespace,
    taskQueue: run.taskQueue,
    kind: 'workflow',
    since: ctx.clock.now() - LIVE_WORKER_WINDOW_MS,
  });
  if (!pollers.some((p) => p.types.includes(run.workflowType))) {
    throw new TidewayApiError(
      'Unavailable',
      `no worker is polling task queue "${run.taskQueue}" for workflow "${run.workflowType}", so nothing can answer ` +
        'the query; start a worker that registers it',
    );
  }
  const queryId = ctx.newId();
  const answered = ctx.notifier.subscribe(queryAnswered(namespace, queryId));
  try {
    await ctx.transition(async (tx, notify) => {
      await insertQuery(tx, {
        namespace,
        queryId,
        runId: run.runId,
        workflowId: run.workflowId,
        workflowType: run.workflowType,
        taskQueue: run.taskQueue,
        queryName: request.queryName,
        args: request.args,
        createdAt: ctx.clock.now(),
      });
      notify(notifyKeys.workflowQueue(namespace, run.taskQueue));
      notify(notifyKeys.queryQueued(namespace, run.taskQueue, run.workflowType));
    });
    const deadline = Date.now() + request.timeoutMs;
    for (;;) {
      const row = await getQuery(ctx.db, namespace, queryId);
      if (row?.status === 'answered') {
        if (row.failure) {
          throw new TidewayApiError('QueryFailed', `query "${request.queryName}" failed: ${row.failure.message}`, {
            failure: row.failure,
          });
        }
        return { result: row.result ?? { encoding: 'json/plain', data: null } };
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0 || ctx.closing.aborted) break;
      await answered.wait(remaining, ctx.closing);
    }
    throw new TidewayApiError(
      'DeadlineExceeded',
      `query "${request.queryName}" on workflow "${run.workflowId}" was not answered within ${request.timeoutMs} ms ` +
        `(workers polling task queue "${run.taskQueue}": ${pollers.length}); they may be busy or stuck`,
    );
  } finally {
    answered.dispose();
    await deleteQuery(ctx.db, namespace, queryId).catch(() => {});
  }
}

/** Claims a pending query for a workflow poller, as a query task. */
export async function claimQueryTask(
  ctx: EngineContext,
  tx: Queryable,
  namespace: string,
  request: { taskQueue: string; types: string[] },
  now: number,
): Promise<WorkflowTask | undefined> {
  const hints = ctx.notifier.queryHints;
  const keys = request.types.map((type) => queryHintKey(namespace, request.taskQueue, type));
  // Every hint is taken (cleared), so a query queued meanwhile sets its hint again for the next look.
  const hinted = keys.filter((key) => hints.take(key));
  if (hinted.length === 0) return undefined;
  const query = await claimQuery(tx, { namespace, taskQueue: request.taskQueue, types: request.types });
  if (!query) return undefined;
  for (const key of hinted) hints.mark(key); // there may be more
  const run = await findRun(tx, namespace, query.workflowId, query.runId);
  return {
    taskToken: encodeTaskToken({ kind: 'query', namespace, queryId: query.queryId }),
    workflowId: query.workflowId,
    runId: query.runId,
    workflowType: query.workflowType,
    taskQueue: query.taskQueue,
    attempt: 1,
    taskTime: now,
    previousSeenUpToEventId: 0,
    events: [],
    eventsComplete: false,
    lastEventId: (run?.nextEventId ?? 1) - 1,
    query: { queryId: query.queryId, queryName: query.queryName, args: query.args },
  };
}

export async function respondQueryTask(
  ctx: EngineContext,
  namespace: string,
  raw: RespondQueryTaskRequest,
): Promise<void> {
  checkNamespace(namespace);
  const request = parseRequest(RespondQueryTaskRequestSchema, raw, 'query answer');
  checkPayloadSize(ctx, request.result, 'the query result');
  const token = decodeTaskToken(request.taskToken, 'query', namespace);
  await ctx.transition(async (tx, notify) => {
    const stored = await answerQuery(tx, {
      namespace,
      queryId: token.queryId,
      result: request.result,
      failure: request.failure,
    });
    if (!stored) throw new TidewayApiError('NotFound', 'nobody waits for this query any more (it timed out)');
    notify(queryAnswered(namespace, token.queryId));
  });
}
