import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Engine } from '../src/engine/index.js';
import { toPayload } from '../src/protocol/index.js';
import { skipBackend } from './support/backend.js';
import { type CallCounter, countRunReads } from './support/counters.js';
import { createTideway, type TestTideway } from './support/env.js';
import { waitFor } from './support/wait.js';

// A result wait woken by this engine's own commit of the close gets the outcome with the wake-up
// (src/engine/close-run.ts, visibility.ts): it reads the run once, before waiting, and never after.

const skip = await skipBackend();

describe.skipIf(skip)('a result wait woken by its own engine', () => {
  let t: TestTideway;
  let engine: Engine;
  let reads: CallCounter;
  beforeAll(async () => {
    t = await createTideway('in-process', { replayCheck: false });
    engine = t.env.engine;
    reads = countRunReads(engine);
  });
  afterAll(() => t?.teardown());

  /** Starts a run, begins waiting for its result, closes it with `close`, and returns what the wait got. */
  async function waitedOutcome(id: string, close: (taskToken: string) => Promise<unknown>) {
    const { runId } = await engine.startWorkflow('default', { workflowId: id, workflowType: 'manual', taskQueue: id });
    const task = (await engine.pollWorkflowTask('default', { taskQueue: id, types: ['manual'], waitMs: 1000 })).task!;
    reads.count = 0;
    const result = engine.getWorkflowResult('default', { workflowId: id, runId, waitMs: 10_000 });
    await waitFor(() => reads.count === 1, { what: 'the wait to read once' });
    await close(task.taskToken);
    const outcome = await result;
    expect(reads.count).toBe(1);
    return outcome;
  }

  test('completed, failed and continued-as-new outcomes are those a read would return', async () => {
    const completed = await waitedOutcome('rw-done', (taskToken) =>
      engine.completeWorkflowTask('default', {
        taskToken,
        commands: [{ type: 'CompleteWorkflow', result: toPayload({ n: 1 }) }],
      }),
    );
    expect(completed).toEqual(await engine.getWorkflowResult('default', { workflowId: 'rw-done' }));
    expect(completed).toMatchObject({ status: 'completed', result: toPayload({ n: 1 }) });

    const failed = await waitedOutcome('rw-failed', (taskToken) =>
      engine.completeWorkflowTask('default', {
        taskToken,
        commands: [{ type: 'FailWorkflow', failure: { message: 'no luck', type: 'Error' } }],
      }),
    );
    expect(failed).toEqual(await engine.getWorkflowResult('default', { workflowId: 'rw-failed', runId: failed.runId }));
    expect(failed).toMatchObject({ status: 'failed', failure: { message: 'no luck' } });

    const continued = await waitedOutcome('rw-continued', (taskToken) =>
      engine.completeWorkflowTask('default', {
        taskToken,
        commands: [{ type: 'ContinueAsNew', workflowType: 'manual', input: [toPayload(2)] }],
      }),
    );
    expect(continued).toEqual(
      await engine.getWorkflowResult('default', { workflowId: 'rw-continued', runId: continued.runId }),
    );
    expect(continued.status).toBe('continued-as-new');
    expect(continued.nextRunId).toBeDefined();
  });

  test('a terminated run wakes its waiter with the termination', async () => {
    const terminated = await waitedOutcome('rw-terminated', () =>
      engine.terminateWorkflow('default', { workflowId: 'rw-terminated', reason: 'stop' }),
    );
    expect(terminated).toMatchObject({ status: 'terminated', failure: { message: 'stop' } });
    expect(terminated).toEqual(
      await engine.getWorkflowResult('default', { workflowId: 'rw-terminated', runId: terminated.runId }),
    );
  });
});
