import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client } from '../src/client/index.js';
import { fromPayload, MAX_REPORTS_PER_REQUEST, type TidewayApi, toPayload } from '../src/protocol/index.js';
import { proxyActivities, sleep } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';
import { startGateway } from './support/gateway.js';

// Several worker reports in one request (`submitWorkerReports`): each applied on its own, as if sent
// alone; and a worker over HTTP sends the reports it makes together that way.

const skip = await skipBackend();
const NS = 'default';

const activities = {
  async addOne(n: number) {
    return n + 1;
  },
};
const { addOne } = proxyActivities<typeof activities>({ startToCloseTimeout: '30s' });
async function stepThenNap(n: number) {
  const next = await addOne(n);
  await sleep(200);
  return next;
}

async function post(t: TestTideway, path: string, body: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${t.server!.url}/api/v1/namespaces/${NS}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return { status: response.status, body: await response.json() };
}

/** Starts a run of `manual` whose workflow task schedules one activity of type `work`, and leases that activity. */
async function leasedActivity(engine: TidewayApi, workflowId: string, queue: string) {
  await engine.startWorkflow(NS, { workflowId, workflowType: 'manual', taskQueue: queue });
  const wt = (await engine.pollWorkflowTask(NS, { taskQueue: queue, types: ['manual'], waitMs: 2000 })).task;
  if (!wt) throw new Error('no workflow task');
  await engine.completeWorkflowTask(NS, {
    taskToken: wt.taskToken,
    commands: [{ type: 'ScheduleActivity', activityId: '1', activityType: 'work', input: [toPayload(1)] }],
  });
  const activity = (await engine.pollActivityTask(NS, { taskQueue: queue, types: ['work'], waitMs: 2000 })).task;
  if (!activity) throw new Error('no activity task');
  return activity;
}

describe.skipIf(skip)('worker reports sent together', () => {
  let t: TestTideway;
  beforeAll(async () => {
    t = await createTideway('http', { replayCheck: false });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('each report is applied on its own: a bad one is refused with its own error, the good ones land', async () => {
    const engine = t.env.engine;
    const good = await leasedActivity(engine, 'reports-mixed', 'reports-mixed');
    const answer = await post(
      t,
      '/worker/reports',
      JSON.stringify({
        reports: [
          { kind: 'completeActivityTask', request: { taskToken: good.taskToken, result: toPayload(42) } },
          { kind: 'completeActivityTask', request: { taskToken: good.taskToken } },
          { kind: 'failWorkflowTask', request: { taskToken: 'not-a-token', failure: { message: 'x' }, cause: 'c' } },
          { kind: 'fireTimer', request: { runId: 'no-such-run', timerId: '1' } },
        ],
      }),
    );
    expect(answer.status).toBe(200);
    const [completed, missingResult, badToken, timer] = answer.body.results;
    expect(completed).toEqual({ ok: true, response: { ok: true } });
    expect(missingResult).toMatchObject({ ok: false, status: 400, error: { code: 'InvalidArgument' } });
    expect(missingResult.error.message).toMatch(/result/);
    expect(badToken).toMatchObject({ ok: false, status: 400, error: { code: 'InvalidArgument' } });
    expect(timer).toEqual({ ok: true, response: { outcome: 'gone' } });
    const history = await engine.getWorkflowHistory(NS, { workflowId: 'reports-mixed' });
    const results = history.events.flatMap((e) => (e.type === 'ActivityTaskCompleted' ? [e.attributes.result] : []));
    expect(results.map((result) => fromPayload(result))).toEqual([42]);
  });

  test('a malformed envelope is refused whole with a 400 that says what to fix, and changes nothing', async () => {
    const engine = t.env.engine;
    const activity = await leasedActivity(engine, 'reports-refused', 'reports-refused');
    const complete = { kind: 'completeActivityTask', request: { taskToken: activity.taskToken, result: toPayload(7) } };
    const cases: [string, RegExp][] = [
      ['{"reports": [', /not valid JSON/],
      ['{"reports": []}', /at least one report/],
      [JSON.stringify({ reports: [complete, { kind: 'startWorkflow', request: {} }] }), /kind/],
      [JSON.stringify({ reports: Array.from({ length: MAX_REPORTS_PER_REQUEST + 1 }, () => complete) }), /at most 100/],
      [JSON.stringify({ reports: complete }), /reports/],
    ];
    for (const [body, message] of cases) {
      const answer = await post(t, '/worker/reports', body);
      expect(answer.status, body.slice(0, 60)).toBe(400);
      expect(answer.body.error.message).toMatch(message);
    }
    const history = await engine.getWorkflowHistory(NS, { workflowId: 'reports-refused' });
    expect(history.events.some((e) => e.type === 'ActivityTaskCompleted')).toBe(false);
  });

  test('a worker over HTTP sends the reports of a burst together, and every workflow ends as alone', async () => {
    const engine = t.env.engine;
    // Count reports as the engine applies them, and the requests that carried them.
    const counts = { reports: 0, shared: 0, inShared: 0 };
    for (const op of ['completeWorkflowTask', 'completeActivityTask', 'fireTimer'] as const) {
      const original = engine[op].bind(engine) as (ns: string, request: never) => Promise<unknown>;
      (engine as unknown as Record<string, unknown>)[op] = (ns: string, request: never) => {
        counts.reports++;
        return original(ns, request);
      };
    }
    const submit = engine.submitWorkerReports.bind(engine);
    engine.submitWorkerReports = (ns, request) => {
      counts.shared++;
      counts.inShared += request.reports.length;
      return submit(ns, request);
    };

    await t.startWorker({ taskQueue: 'burst', workflows: { stepThenNap }, activities });
    const n = 60;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        t.client.workflow.execute(stepThenNap, { id: `burst-${i}`, taskQueue: 'burst', args: [i] }),
      ),
    );
    expect(results).toEqual(Array.from({ length: n }, (_, i) => i + 1));

    // Each run: its first task's completion, the activity's result, the timer's report (or its task's completion).
    expect(counts.reports).toBeGreaterThanOrEqual(2 * n);
    expect(counts.shared).toBeGreaterThan(0);
    const requests = counts.reports - counts.inShared + counts.shared;
    expect(requests).toBeLessThan(counts.reports * 0.8);
    for (let i = 0; i < n; i += 13) {
      const history = await engine.getWorkflowHistory(NS, { workflowId: `burst-${i}` });
      const types = history.events.map((e) => e.type);
      expect(types.filter((type) => type === 'ActivityTaskCompleted')).toHaveLength(1);
      expect(types.filter((type) => type === 'TimerFired')).toHaveLength(1);
      expect(types.at(-1)).toBe('WorkflowExecutionCompleted');
    }
  });

  test('behind a proxy that passes only the single routes, a worker sends each report alone after one refusal', async () => {
    const seen = { refusedShared: 0, forwarded: 0 };
    // A gateway that lets known paths through: the shared route gets its plain-text 404.
    const proxy = await startGateway(t.server!.url, (req, res) => {
      if (req.url?.endsWith('/worker/reports')) {
        seen.refusedShared++;
        req.resume();
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<html><body>404 Not Found</body></html>');
        return true;
      }
      seen.forwarded++;
      return false;
    });
    try {
      const proxied = await Client.connect({ address: proxy.address });
      const worker = await t.startWorker({
        connection: proxied.connection,
        taskQueue: 'proxied',
        workflows: { stepThenNap },
        activities,
      });
      const n = 60;
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          t.client.workflow.execute(stepThenNap, { id: `proxied-${i}`, taskQueue: 'proxied', args: [i] }),
        ),
      );
      expect(results).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      // The worker tried sharing (a burst queues), and once refused sent every report alone: the only shared
      // requests are those already on their way (at most four out, and a few that waited their longest).
      expect(seen.refusedShared).toBeGreaterThanOrEqual(1);
      expect(seen.refusedShared).toBeLessThanOrEqual(10);
      expect(seen.forwarded).toBeGreaterThan(2 * n);
      await worker.shutdown();
    } finally {
      await proxy.close();
    }
  });
});
