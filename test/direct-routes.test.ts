import http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toPayload } from '../src/protocol/index.js';
import { createApp, type RunningServer, startServer } from '../src/server/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

// The routes every workflow calls are answered straight from node:http (src/server/direct-routes.ts).
// Each must answer exactly as the framework route does: the same status and body for every kind of
// bad request, and the same work for good ones. The framework app is asked the same thing directly.

const skip = await skipBackend();
const MAX_PAYLOAD = 1024;
const TOKEN = 's3cret';

interface Answer {
  status: number;
  body: unknown;
}

/** One raw HTTP exchange (the test controls every header and byte). */
function exchange(
  url: string,
  method: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

describe.skipIf(skip)('direct routes answer as the framework routes do', () => {
  let t: TestTideway;
  let server: RunningServer;
  let secured: RunningServer;
  beforeAll(async () => {
    t = await createTideway('in-process', { maxPayloadBytes: MAX_PAYLOAD, replayCheck: false });
    server = await startServer({ port: 0, engine: t.env.engine });
    secured = await startServer({ port: 0, engine: t.env.engine, token: TOKEN });
  });
  afterAll(async () => {
    await server?.close();
    await secured?.close();
    await t?.teardown();
  });

  /** The framework's answer to the same request, asked without the direct routes in front. */
  async function frameworkAnswer(
    path: string,
    method: string,
    body: string | undefined,
    headers: Record<string, string>,
    token?: string,
  ): Promise<Answer> {
    const app = createApp({ engine: t.env.engine, token });
    const response = await app.request(path, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  const json = { 'content-type': 'application/json' };
  const ns = '/api/v1/namespaces/default';
  const cases: [string, string, string, string | undefined, Record<string, string>][] = [
    ['malformed JSON to a start', 'POST', `${ns}/workflows`, '{"workflowId": ', json],
    ['wrong types in a start', 'POST', `${ns}/workflows`, '{"workflowId": 7}', json],
    [
      'a completion with a token that is not one',
      'POST',
      `${ns}/workflow-tasks/complete`,
      '{"taskToken":"xyz","commands":[]}',
      json,
    ],
    [
      'a completion of a lease that does not exist',
      'POST',
      `${ns}/activity-tasks/complete`,
      JSON.stringify({
        taskToken: Buffer.from(
          JSON.stringify({ kind: 'activity', namespace: 'default', runId: 'r', scheduledEventId: 5, leaseId: 'l' }),
        ).toString('base64url'),
        result: toPayload(1),
      }),
      json,
    ],
    [
      'a poll asking for no tasks',
      'POST',
      `${ns}/workflow-tasks/poll`,
      '{"taskQueue":"q","types":["t"],"maxTasks":0}',
      json,
    ],
    ['a result of a workflow that does not exist', 'GET', `${ns}/workflows/nobody/result?waitMs=0`, undefined, {}],
    ['a result wait of a wrong length', 'GET', `${ns}/workflows/nobody/result?waitMs=abc`, undefined, {}],
    [
      'a namespace with spaces',
      'POST',
      '/api/v1/namespaces/bad%20ns/workflows',
      '{"workflowId":"a","workflowType":"t","taskQueue":"q"}',
      json,
    ],
    [
      'a body over the limit',
      'POST',
      `${ns}/workflows`,
      JSON.stringify({ workflowId: 'big', workflowType: 't', taskQueue: 'q', args: [toPayload('x'.repeat(80_000))] }),
      json,
    ],
    ['a signal to a workflow that does not exist', 'POST', `${ns}/workflows/nobody/signal`, '{"signalName":"s"}', json],
    ['a heartbeat with a missing token', 'POST', `${ns}/activity-tasks/heartbeat`, '{}', json],
    ['a timer report without a timer id', 'POST', `${ns}/timers/fire`, '{"runId":"r"}', json],
    ['worker reports that are not JSON', 'POST', `${ns}/worker/reports`, '{"reports": [', json],
    ['worker reports with none', 'POST', `${ns}/worker/reports`, '{"reports":[]}', json],
    [
      'worker reports of a kind that is not one',
      'POST',
      `${ns}/worker/reports`,
      '{"reports":[{"kind":"startWorkflow","request":{}}]}',
      json,
    ],
    [
      'a timer report with a wrong task run ahead',
      'POST',
      `${ns}/timers/fire`,
      '{"runId":"r","timerId":"1","next":{}}',
      json,
    ],
  ];

  for (const [what, method, path, body, headers] of cases) {
    test(`${what}: the same status and body`, async () => {
      const direct = await exchange(`${server.url}${path}`, method, body, headers);
      const framework = await frameworkAnswer(path, method, body, headers);
      expect(direct.status).toBeGreaterThanOrEqual(400);
      expect(direct).toEqual(framework);
    });
  }

  test('without the bearer token, or with a wrong one: 401, the same body, and nothing started', async () => {
    const path = `${ns}/workflows`;
    const body = JSON.stringify({ workflowId: 'unauthorized', workflowType: 't', taskQueue: 'q' });
    const auths: Record<string, string>[] = [{}, { authorization: 'Bearer nope' }, { authorization: TOKEN }];
    for (const auth of auths) {
      const headers = { ...json, ...auth };
      const direct = await exchange(`${secured.url}${path}`, 'POST', body, headers);
      expect(direct.status).toBe(401);
      expect(direct).toEqual(await frameworkAnswer(path, 'POST', body, headers, TOKEN));
    }
    await expect(t.env.engine.describeWorkflow('default', { workflowId: 'unauthorized' })).rejects.toMatchObject({
      code: 'NotFound',
    });
  });

  test('a body over the limit sent without a length is refused as it arrives', async () => {
    const answer = await new Promise<Answer>((resolve, reject) => {
      const request = http.request(
        `${server.url}${ns}/workflows`,
        { method: 'POST', headers: { ...json, 'transfer-encoding': 'chunked' } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }),
          );
        },
      );
      request.on('error', reject);
      request.write('{"workflowId":"chunked","workflowType":"t","taskQueue":"q","args":[{"encoding":"json","data":"');
      for (let i = 0; i < 20; i++) request.write('x'.repeat(10_000));
      request.end('"}]}');
    });
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({ error: { code: 'PayloadTooLarge' } });
  });

  test('a body that is not JSON by its content type goes to the framework route', async () => {
    const path = `${ns}/workflows`;
    const body = '{"workflowId":"text","workflowType":"t","taskQueue":"q"}';
    const headers = { 'content-type': 'text/plain' };
    const direct = await exchange(`${server.url}${path}`, 'POST', body, headers);
    expect(direct).toEqual(await frameworkAnswer(path, 'POST', body, headers));
  });

  test('a poll whose caller hangs up stops waiting', async () => {
    const polls = t.env.engine.ctx.waitingPolls;
    const before = polls.size;
    const request = http.request(`${server.url}${ns}/workflow-tasks/poll`, { method: 'POST', headers: json });
    request.on('error', () => {});
    request.end(JSON.stringify({ taskQueue: 'hang-up', types: ['manual'], waitMs: 60_000 }));
    await waitFor(() => polls.size > before, { what: 'the poll to wait' });
    request.destroy();
    await waitFor(() => polls.size === before, { what: 'the poll to stop waiting' });
  });

  test('a good request does the work: start, poll, complete and the result, all over the direct routes', async () => {
    const start = await exchange(
      `${server.url}${ns}/workflows`,
      'POST',
      JSON.stringify({ workflowId: 'direct-1', workflowType: 'manual', taskQueue: 'direct', args: [toPayload(1)] }),
      json,
    );
    expect(start).toMatchObject({ status: 200, body: { workflowId: 'direct-1', started: true } });
    const polled = await exchange(
      `${server.url}${ns}/workflow-tasks/poll`,
      'POST',
      JSON.stringify({ taskQueue: 'direct', types: ['manual'], waitMs: 1000 }),
      json,
    );
    const task = (polled.body as { task: { taskToken: string } }).task;
    const completed = await exchange(
      `${server.url}${ns}/workflow-tasks/complete`,
      'POST',
      JSON.stringify({ taskToken: task.taskToken, commands: [{ type: 'CompleteWorkflow', result: toPayload('ok') }] }),
      json,
    );
    expect(completed).toEqual({ status: 200, body: { ok: true } });
    const result = await exchange(`${server.url}${ns}/workflows/direct-1/result?waitMs=1000`, 'GET');
    expect(result).toMatchObject({ status: 200, body: { status: 'completed', result: toPayload('ok') } });
  });
});
