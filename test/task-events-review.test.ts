import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { activityInfo, CompleteAsyncError, milestone, stdout } from '../src/activity/index.js';
import type { TaskEvent } from '../src/client/index.js';
import { listTaskEvents } from '../src/engine/task-events.js';
import { TidewayApiError } from '../src/protocol/index.js';
import { startServer } from '../src/server/index.js';
import type { Db } from '../src/store/index.js';
import { executeActivity, sleep, milestone as workflowMilestone } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

/**
 * Edge cases of task events: a close racing a reader, resume points that
 * belong to no event of the run, reporter input the server must refuse with
 * a 4xx, milestone data that cannot travel, workflow milestones under
 * replay and task retries, and SSE streams whose client or server goes away.
 */
const tokens = new Map<string, string>();
const failedOnce = new Set<string>();

const activities = {
  async echo(value: string): Promise<string> {
    return value;
  },
  /** Hands out its token and completes later. */
  async parked(key: string): Promise<string> {
    tokens.set(key, activityInfo().taskToken);
    throw new CompleteAsyncError();
  },
  /** Reports data the server would refuse, and data it changes after reporting it. */
  async awkwardData(): Promise<string[]> {
    const errors: string[] = [];
    await stdout('before\n');
    try {
      await milestone('big', { blob: 'x'.repeat(70_000) });
    } catch (error) {
      errors.push((error as Error).message);
    }
    try {
      await milestone('bigint', { n: BigInt(1) });
    } catch (error) {
      errors.push((error as Error).message);
    }
    await stdout('after\n');
    const stats = { rows: 1 };
    await milestone('stats', stats);
    stats.rows = 2;
    return errors;
  },
};

async function milestones(key: string): Promise<string> {
  workflowMilestone('start', { key });
  if (!failedOnce.has(key)) {
    // The first workflow task fails after emitting its milestone (setTimeout is forbidden in workflows).
    failedOnce.add(key);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const echoed = await executeActivity(activities.echo, ['one'], { startToCloseTimeout: '10s' });
  workflowMilestone('after-activity', { echoed });
  await sleep('5ms');
  workflowMilestone('after-sleep');
  return 'done';
}

async function awkwardMilestones(): Promise<string> {
  workflowMilestone('bigint', { n: BigInt(1) });
  workflowMilestone('big', { blob: 'x'.repeat(70_000) });
  const state = { step: 1 };
  workflowMilestone('snapshot', state);
  state.step = 2;
  await sleep('5ms');
  return 'ok';
}

async function caughtMilestone(): Promise<string> {
  let caught = false;
  try {
    workflowMilestone('x'.repeat(70_000));
  } catch {
    caught = true;
  }
  await sleep('5ms');
  return caught ? 'caught' : 'not caught';
}

async function parkedActivity(key: string): Promise<string> {
  return executeActivity(activities.parked, [key], { startToCloseTimeout: '1h' });
}

async function awkwardActivity(): Promise<string[]> {
  return executeActivity(activities.awkwardData, [], { startToCloseTimeout: '10s' });
}

/** Never polled: its runs stay running with no task events until a test closes them. */
async function idle(): Promise<void> {}

const workflows = { milestones, awkwardMilestones, caughtMilestone, parkedActivity, awkwardActivity };

async function collect(iterable: AsyncIterable<TaskEvent>): Promise<TaskEvent[]> {
  const events: TaskEvent[] = [];
  for await (const event of iterable) events.push(event);
  return events;
}

/** How many long-polls wait on a run's task events. */
function eventWaiters(t: TestTideway, runId: string): number {
  const waiters = (t.env.engine.ctx.notifier as unknown as { waiters: Map<string, Set<unknown>> }).waiters;
  return waiters.get(`e:default:${runId}`)?.size ?? 0;
}

const skip = await skipBackend();

describe.skipIf(skip)('task events: review', () => {
  let t: TestTideway;
  const taskQueue = 'task-events-review';

  beforeAll(async () => {
    t = await createTideway('http');
    // No sticky cache: every workflow task replays the run from its history.
    await t.startWorker({ taskQueue, workflows, activities, maxCachedWorkflows: 0 });
  });
  afterAll(() => t?.teardown());

  test('a close committing while a reader reads does not end the stream before its last events', async () => {
    const handle = await t.client.workflow.start(idle, { taskQueue: 'nobody-polls', id: 'close-race' });
    const engine = t.env.engine;
    const db = engine.ctx.db;
    let injected = false;
    // Right after the reader has read the run's events, the run is terminated (its `closed` event commits).
    const racing: Db = {
      kind: db.kind,
      async query(sql, params) {
        const rows = await db.query(sql, params);
        if (!injected && sql.includes('FROM task_events WHERE')) {
          injected = true;
          await engine.terminateWorkflow('default', { workflowId: 'close-race', reason: 'racing the reader' });
        }
        return rows as never;
      },
      exec: (sql) => db.exec(sql),
      transaction: (fn) => db.transaction(fn),
      listen: (channel, handler) => db.listen(channel, handler),
      close: () => db.close(),
    };
    const ctx = { ...engine.ctx, db: racing };
    const seen: TaskEvent[] = [];
    for (let calls = 0; calls < 10; calls++) {
      const page = await listTaskEvents(ctx, 'default', { workflowId: 'close-race', after: seen.at(-1)?.seq ?? 0 });
      seen.push(...page.events);
      if (page.done) break;
    }
    expect(injected).toBe(true);
    expect(seen.map((e) => e.kind)).toEqual(['closed']);
    expect(await collect(handle.watchEvents())).toEqual(seen);
  });

  test('resuming after a seq the run never reached is refused, not a silent skip', async () => {
    const closed = await t.client.workflow.start(idle, { taskQueue: 'nobody-polls', id: 'resume-closed' });
    await closed.terminate('done');
    const api = t.connection.api;
    expect(await api.listTaskEvents('default', { workflowId: 'resume-closed', after: 1 })).toMatchObject({
      events: [],
      done: true,
    });
    await expect(api.listTaskEvents('default', { workflowId: 'resume-closed', after: 2 })).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/after 2 is past the last task event of run .* \(seq 1\)/),
    });

    // A running run with no events yet: a watcher resuming after 3 would otherwise wait and skip events 1 to 3.
    const running = await t.client.workflow.start(idle, { taskQueue: 'nobody-polls', id: 'resume-running' });
    await expect(
      api.listTaskEvents('default', { workflowId: 'resume-running', runId: running.runId, after: 3 }),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
    const sse = await fetch(`${t.server!.url}/api/v1/namespaces/default/workflows/resume-running/events/stream`, {
      headers: { 'last-event-id': '3' },
    });
    expect(sse.status).toBe(400);
    expect(((await sse.json()) as { error: { message: string } }).error.message).toMatch(/past the last task event/);
    await running.terminate('done');
  });

  test('reported events with a bad time are a 400; a time from the future is stored as now', async () => {
    const handle = await t.client.workflow.start(parkedActivity, { taskQueue, id: 'parked', args: ['parked'] });
    const token = await waitFor(() => tokens.get('parked'));
    const post = (events: unknown[]) =>
      fetch(`${t.server!.url}/api/v1/namespaces/default/activity-tasks/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ taskToken: token, events }),
      });
    for (const time of [1.5, -1, 1e300]) {
      const response = await post([{ kind: 'stdout', message: 'hi', time }]);
      expect(response.status).toBe(400);
    }
    const api = t.connection.api;
    await api.recordActivityEvents('default', {
      taskToken: token,
      events: [{ kind: 'stdout', message: 'from a fast clock\n', time: t.clock.now() + 10 * 365 * 86_400_000 }],
    });
    // In process (no JSON on the way), data JSON cannot encode is refused too, not an internal error.
    await expect(
      t.env.engine.recordActivityEvents('default', {
        taskToken: token,
        events: [{ kind: 'milestone', message: 'n', data: { n: BigInt(1) } }],
      }),
    ).rejects.toMatchObject({ code: 'InvalidArgument', message: expect.stringMatching(/cannot be encoded as JSON/) });
    await t.client.activities.complete(token, 'done');
    expect(await handle.result()).toBe('done');
    const events = await collect(handle.watchEvents());
    const output = events.filter((e) => e.kind === 'stdout');
    expect(output.map((e) => e.message)).toEqual(['from a fast clock\n']);
    expect(output[0]!.time).toBeLessThanOrEqual(t.clock.now());
  });

  test('concurrent reports on one run are numbered without gaps; a watcher sees each once, in seq order', async () => {
    const handle = await t.client.workflow.start(parkedActivity, { taskQueue, id: 'concurrent', args: ['concurrent'] });
    const token = await waitFor(() => tokens.get('concurrent'));
    const seen: TaskEvent[] = [];
    const watching = (async () => {
      for await (const event of handle.watchEvents()) seen.push(event);
    })();
    const api = t.connection.api;
    await Promise.all(
      Array.from({ length: 20 }, (_, r) =>
        Promise.all([
          api.recordActivityEvents('default', {
            taskToken: token,
            events: Array.from({ length: 5 }, (_, i) => ({ kind: 'stdout' as const, message: `${r}.${i}\n` })),
          }),
          api.heartbeatActivityTask('default', { taskToken: token }),
        ]),
      ),
    );
    await t.client.activities.complete(token, 'done');
    await watching;
    expect(seen.map((e) => e.seq)).toEqual(seen.map((_, i) => i + 1));
    const output = seen.filter((e) => e.kind === 'stdout').map((e) => e.message);
    expect(output).toHaveLength(100);
    expect(new Set(output).size).toBe(100);
    // Each report's events are stored together, in the order it sent them.
    for (let r = 0; r < 20; r++) {
      const at = output.indexOf(`${r}.0\n`);
      expect(output.slice(at, at + 5)).toEqual(Array.from({ length: 5 }, (_, i) => `${r}.${i}\n`));
    }
    // Watchers get at most one heartbeat event per second per attempt; these 20 came within one.
    expect(seen.filter((e) => e.kind === 'heartbeat')).toHaveLength(1);
    expect(seen.at(-1)).toMatchObject({ kind: 'closed' });
    expect(await collect(handle.watchEvents())).toEqual(seen);
  });

  test('workflow milestones are recorded once: not on replay, not again when a failed task is retried', async () => {
    const handle = await t.client.workflow.start(milestones, { taskQueue, id: 'milestones', args: ['milestones'] });
    await waitFor(async () => (await handle.describe()).pendingWorkflowTask?.attempt === 2, {
      what: 'the first workflow task to fail',
    });
    t.skipTime('2s');
    expect(await handle.result()).toBe('done');
    const events = await collect(handle.watchEvents());
    const recorded = events.filter((e) => e.source === 'workflow' && e.kind === 'milestone');
    expect(recorded.map((e) => [e.message, e.data])).toEqual([
      ['start', { key: 'milestones' }],
      ['after-activity', { echoed: 'one' }],
      ['after-sleep', undefined],
    ]);
    expect(events.filter((e) => e.source === 'workflow' && e.kind === 'failed')).toHaveLength(1);
  });

  test('workflow milestone data JSON cannot carry does not fail the task; data is copied when emitted', async () => {
    const handle = await t.client.workflow.start(awkwardMilestones, { taskQueue, id: 'awkward-milestones' });
    await waitFor(async () => (await handle.describe()).status === 'completed', {
      what: 'the workflow to complete',
    });
    const events = await collect(handle.watchEvents());
    const recorded = events.filter((e) => e.source === 'workflow' && e.kind === 'milestone');
    expect(recorded.map((e) => [e.message, e.data])).toEqual([
      ['bigint', { omitted: expect.stringMatching(/not encodable as JSON/) }],
      ['big', { omitted: expect.stringMatching(/bytes, over the task event limit/) }],
      ['snapshot', { step: 1 }],
    ]);
    expect(events.some((e) => e.source === 'workflow' && e.kind === 'failed')).toBe(false);
  });

  test('an oversized milestone name throws on replay too, so code that catches it replays the same way', async () => {
    const handle = await t.client.workflow.start(caughtMilestone, { taskQueue, id: 'caught-milestone' });
    expect(await handle.result()).toBe('caught');
  });

  test('activity milestone data the server would refuse throws at the call; the rest of the batch arrives', async () => {
    const handle = await t.client.workflow.start(awkwardActivity, { taskQueue, id: 'awkward-activity' });
    const errors = await handle.result();
    expect(errors).toEqual([
      expect.stringMatching(/milestone data is \d+ bytes as JSON, over the 65536-byte limit/),
      expect.stringMatching(/milestone data cannot be encoded as JSON/),
    ]);
    const events = (await collect(handle.watchEvents())).filter((e) => e.source === 'activity');
    expect(
      events
        .filter((e) => e.kind === 'stdout')
        .map((e) => e.message)
        .join(''),
    ).toBe('before\nafter\n');
    expect(events.filter((e) => e.kind === 'milestone').map((e) => [e.message, e.data])).toEqual([
      ['stats', { rows: 1 }],
    ]);
  });

  test('an SSE client that hangs up leaves no long-poll behind', async () => {
    const handle = await t.client.workflow.start(idle, { taskQueue: 'nobody-polls', id: 'hang-up' });
    const hangUp = new AbortController();
    const response = await fetch(`${t.server!.url}/api/v1/namespaces/default/workflows/hang-up/events/stream`, {
      signal: hangUp.signal,
    });
    expect(response.status).toBe(200);
    await waitFor(() => eventWaiters(t, handle.runId!) === 1, { what: 'the stream to wait for events' });
    hangUp.abort();
    await waitFor(() => eventWaiters(t, handle.runId!) === 0, { what: 'the long-poll to end' });

    // The same when the server closes under the stream (the engine lives on, as when it is embedded).
    const server = await startServer({ port: 0, engine: t.env.engine });
    const cut = await fetch(`${server.url}/api/v1/namespaces/default/workflows/hang-up/events/stream`);
    await waitFor(() => eventWaiters(t, handle.runId!) === 1, { what: 'the stream to wait for events' });
    const body = cut.text().catch(() => 'connection reset');
    await server.close();
    expect(await body).not.toMatch(/event: done/);
    await waitFor(() => eventWaiters(t, handle.runId!) === 0, { what: 'the long-poll to end' });
    await handle.terminate('done');
  });
});

describe.skipIf(skip)('task events: review, the engine closing under an SSE stream', () => {
  test('the stream ends without done and without an error in the server log', async () => {
    const t = await createTideway('http', { replayCheck: false });
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const handle = await t.client.workflow.start(idle, { taskQueue: 'nobody-polls', id: 'engine-closes' });
      const response = await fetch(`${t.server!.url}/api/v1/namespaces/default/workflows/engine-closes/events/stream`);
      await waitFor(() => eventWaiters(t, handle.runId!) === 1, { what: 'the stream to wait for events' });
      const body = response.text();
      await t.env.engine.close();
      expect(await body).not.toMatch(/event: done/);
      expect(errors.mock.calls.filter((args) => args.some((a) => a instanceof TidewayApiError))).toEqual([]);
    } finally {
      errors.mockRestore();
      await t.teardown();
    }
  });
});
