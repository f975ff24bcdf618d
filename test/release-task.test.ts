import { afterAll, beforeAll, expect, test } from 'vitest';
import { toPayload } from '../src/protocol/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway } from './support/env.js';

// A poll whose caller hung up after the claim gives the task back at once.
let t: TestTideway;
let skip = false;
beforeAll(async () => {
  skip = await skipBackend();
  if (!skip) t = await createTideway('in-process');
});
afterAll(async () => {
  await t?.teardown();
});

test('a released workflow task and activity task are handed to the next poller at once', async (ctx) => {
  if (skip) ctx.skip();
  const engine = t.env.engine;
  await engine.startWorkflow('default', { workflowId: 'rel-1', workflowType: 'manual', taskQueue: 'rel' });
  const first = (await engine.pollWorkflowTask('default', { taskQueue: 'rel', types: ['manual'], waitMs: 1000 })).task;
  if (!first) throw new Error('no workflow task');
  await engine.releaseTask('default', first.taskToken);
  const again = (await engine.pollWorkflowTask('default', { taskQueue: 'rel', types: ['manual'], waitMs: 0 })).task;
  expect(again?.runId).toBe(first.runId);
  await engine.completeWorkflowTask('default', {
    taskToken: again!.taskToken,
    commands: [{ type: 'ScheduleActivity', activityId: '1', activityType: 'work', input: [toPayload(1)] }],
  });

  const activity = (await engine.pollActivityTask('default', { taskQueue: 'rel', types: ['work'], waitMs: 1000 })).task;
  if (!activity) throw new Error('no activity task');
  await engine.releaseTask('default', activity.taskToken);
  const description = await engine.describeWorkflow('default', { workflowId: 'rel-1' });
  expect(description.pendingActivities[0]).toMatchObject({ state: 'scheduled', attempt: 1 });
  const retaken = (await engine.pollActivityTask('default', { taskQueue: 'rel', types: ['work'], waitMs: 0 })).task;
  expect(retaken).toMatchObject({ activityId: '1', attempt: 1 });
  // The first lease is void: its completion is refused.
  await expect(
    engine.completeActivityTask('default', { taskToken: activity.taskToken, result: toPayload('stale') }),
  ).rejects.toThrow(/no longer leased/);
});
