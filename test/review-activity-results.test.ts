import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WorkflowFailedError } from '../src/client/index.js';
import { executeActivity } from '../src/workflow/index.js';
import { skipBackend } from './support/backend.js';
import { createTideway, type TestTideway, TRANSPORTS } from './support/env.js';

// An activity whose result cannot be encoded as JSON must fail visibly, not
// vanish and be retried after every start-to-close timeout forever.
const activities = {
  async bigNumber(): Promise<bigint> {
    return 10n;
  },
};

async function returnsBigInt(): Promise<unknown> {
  return await executeActivity(activities.bigNumber, [], { startToCloseTimeout: '10m' });
}

describe.each(TRANSPORTS)('activity results over %s', (transport) => {
  let t: TestTideway;
  let skip = false;
  const taskQueue = `review-results-${transport}`;
  beforeAll(async () => {
    skip = await skipBackend();
    if (skip) return;
    t = await createTideway(transport);
    await t.startWorker({ taskQueue, workflows: { returnsBigInt }, activities });
  });
  afterAll(async () => {
    await t?.teardown();
  });

  test('a result that cannot be encoded fails the activity for good', async (ctx) => {
    if (skip) ctx.skip();
    const handle = await t.client.workflow.start(returnsBigInt, { id: `big-${transport}`, taskQueue });
    const outcome = await Promise.race([
      handle.result().then(
        () => 'completed',
        (error: unknown) => error,
      ),
      new Promise((resolve) => setTimeout(() => resolve('still running after 10 s'), 10_000)),
    ]);
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect(String((outcome as WorkflowFailedError).cause?.cause)).toMatch(/BigInt/);
    const description = await handle.describe();
    expect(description.status).toBe('failed');
  });
});
