import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Client } from '../src/client/index.js';
import type { Engine } from '../src/engine/index.js';
import { MAX_STARTS_PER_REQUEST, NDJSON, toPayload } from '../src/protocol/index.js';
import { proxyActivities } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';
import { startGateway } from './support/gateway.js';

// Several workflow starts in one request (`startWorkflows`): each applied on its own, as if sent alone,
// answered in lines as each settles; and a client over HTTP sends the starts it makes together that way.

const skip = await skipBackend();
const NS = 'default';

const activities = {
  async addOne(n: number) {
    return n + 1;
  },
};
const { addOne } = proxyActivities<typeof activities>({ startToCloseTimeout: '30s' });
async function plusOne(n: number) {
  return addOne(n);
}

async function postStarts(t: TestTideway, body: string) {
  const response = await fetch(`${t.server!.url}/api/v1/namespaces/${NS}/workflow-starts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), text };
}

/** Counts the starts the engine applies, and the shared requests that carried them. */
function countStarts(engine: Engine) {
  const counts = { starts: 0, shared: 0, inShared: 0 };
  const startOne = engine.startWorkflow;
  engine.startWorkflow = (ns, request) => {
    counts.starts++;
    return startOne(ns, request);
  };
  const startMany = engine.startWorkflows;
  engine.startWorkflows = (ns, request, onOutcome) => {
    counts.shared++;
    counts.inShared += request.starts.length;
    return startMany(ns, request, onOutcome);
  };
  return counts;
}

/** How many runs each workflow id has. */
async function runsOf(engine: Engine, ids: string[]): Promise<number[]> {
  return Promise.all(ids.map(async (workflowId) => (await engine.listWorkflows(NS, { workflowId })).executions.length));
}

describe.skipIf(skip)('workflow starts sent together', () => {
  let t: TestTideway;
  beforeAll(async () => {
    t = await createTideway('http', { replayCheck: false });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('each start is applied on its own and answered in its own line: a bad one gets its own error', async () => {
    const engine = t.env.engine;
    await engine.startWorkflow(NS, { workflowId: 'lines-taken', workflowType: 'manual', taskQueue: 'lines' });
    const answer = await postStarts(
      t,
      JSON.stringify({
        starts: [
          { workflowId: 'lines-new', workflowType: 'manual', taskQueue: 'lines', args: [toPayload(1)] },
          { workflowId: 'lines-taken', workflowType: 'manual', taskQueue: 'lines' },
          { workflowId: 'lines-bad', taskQueue: 'lines' },
          { workflowId: 'lines-wait', workflowType: 'manual', taskQueue: 'lines', waitForResultMs: 300 },
        ],
      }),
    );
    expect(answer.status).toBe(200);
    expect(answer.type).toBe(NDJSON);
    const lines = answer.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.index).sort()).toEqual([0, 1, 2, 3]);
    const byIndex = Object.fromEntries(lines.map((line) => [line.index, line]));
    expect(byIndex[0]).toMatchObject({ ok: true, response: { workflowId: 'lines-new', started: true } });
    expect(byIndex[1]).toMatchObject({ ok: false, status: 409, error: { code: 'WorkflowAlreadyStarted' } });
    expect(byIndex[2]).toMatchObject({ ok: false, status: 400, error: { code: 'InvalidArgument' } });
    expect(byIndex[2].error.message).toMatch(/workflowType/);
    // The start-and-wait answers after its wait (no worker runs it), after the others: lines come as each settles.
    expect(byIndex[3]).toMatchObject({ ok: true, response: { started: true, outcome: { status: 'running' } } });
    expect(lines.at(-1).index).toBe(3);
    expect(await runsOf(engine, ['lines-new', 'lines-taken', 'lines-bad', 'lines-wait'])).toEqual([1, 1, 0, 1]);
  });

  test('a malformed envelope is refused whole with a 400 that says what to fix, and starts nothing', async () => {
    const start = { workflowId: 'refused-1', workflowType: 'manual', taskQueue: 'refused' };
    const cases: [string, RegExp][] = [
      ['{"starts": [', /not valid JSON/],
      ['{"starts": []}', /at least one start/],
      [JSON.stringify({ starts: start }), /starts/],
      [JSON.stringify({ starts: [start, 'refused-2'] }), /starts/],
      [JSON.stringify({ starts: Array.from({ length: MAX_STARTS_PER_REQUEST + 1 }, () => start) }), /at most 500/],
    ];
    for (const [body, message] of cases) {
      const answer = await postStarts(t, body);
      expect(answer.status, body.slice(0, 60)).toBe(400);
      expect(JSON.parse(answer.text).error.message).toMatch(message);
    }
    expect(await runsOf(t.env.engine, ['refused-1'])).toEqual([0]);
  });

  test('a client sends the starts it makes at once in one request, and a start made alone alone', async () => {
    await t.startWorker({ taskQueue: 'together', workflows: { plusOne }, activities });
    const counts = countStarts(t.env.engine);
    const n = 50;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        t.client.workflow.execute(plusOne, { id: `together-${i}`, taskQueue: 'together', args: [i] }),
      ),
    );
    expect(results).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(counts).toEqual({ starts: n, shared: 1, inShared: n });

    const handle = await t.client.workflow.start(plusOne, { id: 'alone', taskQueue: 'together', args: [9] });
    expect(await handle.result()).toBe(10);
    expect(counts).toEqual({ starts: n + 1, shared: 1, inShared: n });

    // Errors stay each start's own: a taken id is refused, the other start in the same request starts.
    await t.client.workflow.start(plusOne, { id: 'taken', taskQueue: 'nobody', args: [1] });
    const outcomes = await Promise.allSettled(
      ['taken', 'untaken'].map((id) => t.client.workflow.start(plusOne, { id, taskQueue: 'nobody', args: [1] })),
    );
    expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: { code: 'WorkflowAlreadyStarted' } });
    expect(outcomes[1]?.status).toBe('fulfilled');
    expect(counts).toEqual({ starts: n + 4, shared: 2, inShared: n + 2 });
  });

  test.each([404, 405])(
    'behind a proxy that refuses the shared route (%i), a client starts each workflow alone after one refusal',
    async (status) => {
      const seen = { refused: 0, single: 0 };
      const gateway = await startGateway(t.server!.url, (req, res) => {
        if (req.url?.endsWith('/workflow-starts')) {
          seen.refused++;
          req.resume();
          res.writeHead(status, { 'content-type': 'text/html' });
          res.end(`<html><body>${status}</body></html>`);
          return true;
        }
        if (req.method === 'POST' && req.url?.endsWith('/workflows')) seen.single++;
        return false;
      });
      try {
        const client = await Client.connect({ address: gateway.address });
        const taskQueue = `gateway-${status}`;
        await t.startWorker({ taskQueue, workflows: { plusOne }, activities });
        const execute = (prefix: string) =>
          Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              client.workflow.execute(plusOne, { id: `${prefix}-${status}-${i}`, taskQueue, args: [i] }),
            ),
          );
        expect(await execute('gateway-a')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(await execute('gateway-b')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(seen).toEqual({ refused: 1, single: 40 });
      } finally {
        await gateway.close();
      }
    },
  );

  test('an answer cut off midway: the unanswered starts go again with their request ids, and none runs twice', async () => {
    let cut = 0;
    const gateway = await startGateway(t.server!.url, (req, res, forward) => {
      if (!req.url?.endsWith('/workflow-starts') || cut > 0) return false;
      // Pass the answer's first lines on, then drop the connection.
      forward().on('response', (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.once('data', (chunk: Buffer) => {
          const text = chunk.toString('utf8');
          res.write(text.slice(0, text.indexOf('\n') + 1));
          cut++;
          res.destroy();
        });
      });
      return true;
    });
    try {
      const client = await Client.connect({ address: gateway.address });
      await t.startWorker({ taskQueue: 'cut', workflows: { plusOne }, activities });
      const ids = Array.from({ length: 30 }, (_, i) => `cut-${i}`);
      const results = await Promise.all(
        ids.map((id, i) => client.workflow.execute(plusOne, { id, taskQueue: 'cut', args: [i] })),
      );
      expect(results).toEqual(ids.map((_, i) => i + 1));
      expect(cut).toBe(1);
      expect(await runsOf(t.env.engine, ids)).toEqual(ids.map(() => 1));
    } finally {
      await gateway.close();
    }
  });

  test('lines that are not outcomes (a foreign answer) crash nothing: their starts are sent again', async () => {
    let foreign = 0;
    const gateway = await startGateway(t.server!.url, (req, res) => {
      if (!req.url?.endsWith('/workflow-starts') || foreign > 0) return false;
      foreign++;
      req.resume();
      res.writeHead(200, { 'content-type': NDJSON });
      // Lines of every wrong kind, one split across writes.
      res.write('{"index":0,"ok":false}\nnot json\n{"index":1,"ok":tr');
      res.end('ue}\n{"index":"2"}\n');
      return true;
    });
    try {
      const client = await Client.connect({ address: gateway.address });
      await t.startWorker({ taskQueue: 'foreign', workflows: { plusOne }, activities });
      const ids = Array.from({ length: 5 }, (_, i) => `foreign-${i}`);
      const results = await Promise.all(
        ids.map((id, i) => client.workflow.execute(plusOne, { id, taskQueue: 'foreign', args: [i] })),
      );
      expect(results).toEqual(ids.map((_, i) => i + 1));
      expect(foreign).toBe(1);
      expect(await runsOf(t.env.engine, ids)).toEqual(ids.map(() => 1));
    } finally {
      await gateway.close();
    }
  });
});
