import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ApplicationFailure, TidewayApiError, WorkflowFailedError } from '../src/client/index.js';
import { toPayload } from '../src/protocol/index.js';
import { startServer } from '../src/server/index.js';
import { proxyActivities } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';

const activities = {
  async echo(value: unknown): Promise<unknown> {
    return value;
  },
  async double(text: string): Promise<string> {
    return text + text;
  },
};
const { echo, double } = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
async function echoWorkflow(value: unknown): Promise<unknown> {
  return await echo(value);
}
async function doubleWorkflow(text: string): Promise<string> {
  return await double(text);
}

const MAX_PAYLOAD = 64 * 1024;

async function expectApiError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TidewayApiError);
  expect((error as TidewayApiError).code).toBe(code);
  expect((error as TidewayApiError).message).toMatch(message);
}

describe.each(TRANSPORTS)('bad input over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport, { maxPayloadBytes: MAX_PAYLOAD });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  async function runCount(): Promise<number> {
    return (await t.connection.api.listWorkflows('default', {})).executions.length;
  }

  test('wrong types, missing fields and over-long ids are rejected with what to fix, and nothing is written', async (ctx) => {
    if (skip) ctx.skip();
    const api = t.connection.api;
    const before = await runCount();
    await expectApiError(
      api.startWorkflow('default', { workflowId: 'x', workflowType: 7 as unknown as string, taskQueue: 'q' }),
      'InvalidArgument',
      /workflowType/,
    );
    await expectApiError(
      api.startWorkflow('default', { workflowId: 'x', workflowType: 't' } as never),
      'InvalidArgument',
      /taskQueue/,
    );
    await expectApiError(
      api.startWorkflow('default', { workflowId: 'x'.repeat(1001), workflowType: 't', taskQueue: 'q' }),
      'InvalidArgument',
      /workflowId must be at most 1000 characters/,
    );
    await expectApiError(
      api.startWorkflow('bad namespace!', { workflowId: 'x', workflowType: 't', taskQueue: 'q' }),
      'InvalidArgument',
      /invalid namespace/,
    );
    expect(await runCount()).toBe(before);
  });

  test('a payload over the limit is refused with 413 and a hint, nothing written', async (ctx) => {
    if (skip) ctx.skip();
    const before = await runCount();
    await expectApiError(
      t.connection.api.startWorkflow('default', {
        workflowId: 'big',
        workflowType: 't',
        taskQueue: 'q',
        args: [toPayload('x'.repeat(MAX_PAYLOAD + 10))],
      }),
      'PayloadTooLarge',
      /over the 64\.0 KB payload limit.*reference/,
    );
    expect(await runCount()).toBe(before);
  });

  test('an activity result over the limit fails the activity for good, saying why', async (ctx) => {
    if (skip) ctx.skip();
    await t.startWorker({ taskQueue: 'bad-big', workflows: { doubleWorkflow }, activities });
    // The input fits under the limit; the doubled result does not.
    const error = (await t.client.workflow
      .execute(doubleWorkflow, { id: 'big-result', taskQueue: 'bad-big', args: ['y'.repeat(MAX_PAYLOAD / 2 + 100)] })
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = error.cause.cause as ApplicationFailure;
    expect(cause.type).toBe('PayloadTooLarge');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toMatch(/activity result is .* over the 64\.0 KB payload limit/);
  });

  test('starting a workflow no polling worker registers is rejected, listing what is registered', async (ctx) => {
    if (skip) ctx.skip();
    await t.startWorker({ taskQueue: 'registered', workflows: { echoWorkflow, doubleWorkflow }, activities });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expectApiError(
      t.client.workflow.start('echoWorkflw', { id: 'typo', taskQueue: 'registered' }),
      'InvalidArgument',
      /registers workflow "echoWorkflw".*registered: doubleWorkflow, echoWorkflow/,
    );
    // A queue no worker has polled accepts any name: the worker may simply not be up yet.
    const handle = await t.client.workflow.start('notYetDeployed', { id: 'later', taskQueue: 'nobody-yet' });
    expect((await handle.describe()).status).toBe('running');
  });

  test('unknown workflows, runs and malformed task tokens get clear errors', async (ctx) => {
    if (skip) ctx.skip();
    const api = t.connection.api;
    await expectApiError(api.describeWorkflow('default', { workflowId: 'nope' }), 'NotFound', /"nope" not found/);
    await expectApiError(
      api.getWorkflowResult('default', { workflowId: 'nope', runId: 'r' }),
      'NotFound',
      /has no run "r"/,
    );
    await expectApiError(
      api.completeWorkflowTask('default', { taskToken: 'garbage', commands: [] }),
      'InvalidArgument',
      /malformed task token/,
    );
    await expectApiError(api.listWorkflows('default', { nextPageToken: '%%%' }), 'InvalidArgument', /nextPageToken/);
  });

  test('a stale workflow task completion is rejected and changes nothing', async (ctx) => {
    if (skip) ctx.skip();
    const api = t.connection.api;
    await api.startWorkflow('default', { workflowId: 'stale-1', workflowType: 'manual', taskQueue: 'manual-q' });
    const task = (await api.pollWorkflowTask('default', { taskQueue: 'manual-q', types: ['manual'], waitMs: 1000 }))
      .task;
    if (!task) throw new Error('no task');
    await api.completeWorkflowTask('default', {
      taskToken: task.taskToken,
      commands: [{ type: 'StartTimer', timerId: '1', durationMs: 60_000 }],
    });
    const length = (await api.describeWorkflow('default', { workflowId: 'stale-1' })).historyLength;
    await expectApiError(
      api.completeWorkflowTask('default', {
        taskToken: task.taskToken,
        commands: [{ type: 'CompleteWorkflow', result: toPayload('twice') }],
      }),
      'NotFound',
      /no longer leased/,
    );
    const after = await api.describeWorkflow('default', { workflowId: 'stale-1' });
    expect(after.historyLength).toBe(length);
    expect(after.status).toBe('running');
  });

  test('commands after a close command are rejected whole', async (ctx) => {
    if (skip) ctx.skip();
    const api = t.connection.api;
    await api.startWorkflow('default', { workflowId: 'order-1', workflowType: 'manual2', taskQueue: 'manual-q2' });
    const task = (await api.pollWorkflowTask('default', { taskQueue: 'manual-q2', types: ['manual2'], waitMs: 1000 }))
      .task;
    if (!task) throw new Error('no task');
    await expectApiError(
      api.completeWorkflowTask('default', {
        taskToken: task.taskToken,
        commands: [
          { type: 'CompleteWorkflow', result: toPayload(1) },
          { type: 'StartTimer', timerId: '1', durationMs: 5 },
        ],
      }),
      'InvalidArgument',
      /closes the workflow but is not the last command/,
    );
    const after = await api.describeWorkflow('default', { workflowId: 'order-1' });
    expect(after).toMatchObject({ status: 'running', historyLength: 2 });
  });
});

describe('bad input over raw HTTP', () => {
  let t: TestTideway;
  let skip = false;
  beforeAll(async () => {
    skip = await skipBackend();
    if (!skip) t = await createTideway('http');
  });
  afterAll(async () => {
    await t?.teardown();
  });

  const post = (path: string, body: string) =>
    fetch(`${t.server!.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

  test('malformed JSON gets a 400 that says to send JSON', async (ctx) => {
    if (skip) ctx.skip();
    const response = await post('/api/v1/namespaces/default/workflows', '{"workflowId": ');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { code: 'InvalidArgument', message: expect.stringMatching(/not valid JSON/) },
    });
  });

  test('wrong types get a 400 naming each field', async (ctx) => {
    if (skip) ctx.skip();
    const response = await post(
      '/api/v1/namespaces/default/workflows',
      JSON.stringify({ workflowId: 1, workflowType: 'x', taskQueue: ['q'] }),
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/workflowId: .*expected string/);
    expect(body.error.message).toMatch(/taskQueue: .*expected string/);
  });

  test('a poll asking for no tasks, or more than a poll may carry, gets a 400 naming maxTasks', async (ctx) => {
    if (skip) ctx.skip();
    for (const maxTasks of [0, 101, 2.5, 'ten']) {
      const response = await post(
        '/api/v1/namespaces/default/workflow-tasks/poll',
        JSON.stringify({ taskQueue: 'q', types: ['wf'], waitMs: 0, maxTasks }),
      );
      expect(response.status, `maxTasks ${maxTasks}`).toBe(400);
      const body = (await response.json()) as { error: { message: string } };
      expect(body.error.message).toMatch(/maxTasks/);
    }
  });

  test('an oversized body is refused with 413', async (ctx) => {
    if (skip) ctx.skip();
    const response = await post('/api/v1/namespaces/default/workflows', `"${'x'.repeat(9 * 1024 * 1024)}"`);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('PayloadTooLarge');
  });

  test('unknown routes get a JSON 404 pointing at the OpenAPI document', async (ctx) => {
    if (skip) ctx.skip();
    const response = await fetch(`${t.server!.url}/api/v1/nothing-here`);
    expect(response.status).toBe(404);
    expect(await response.text()).toContain('/api/v1/openapi.json');
  });

  test('with a token configured, a missing or wrong token gets 401 and a correct one works', async (ctx) => {
    if (skip) ctx.skip();
    const secured = await startServer({ port: 0, engine: t.env.engine, token: 's3cret' });
    try {
      const url = `${secured.url}/api/v1/namespaces/default/workflows`;
      expect((await fetch(url)).status).toBe(401);
      const wrong = await fetch(url, { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/bearer token/);
      expect((await fetch(url, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
      expect((await fetch(`${secured.url}/healthz`)).status).toBe(200);
    } finally {
      await secured.close();
    }
  });
});
