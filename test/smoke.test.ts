import { expect, test } from 'vitest';
import { TestWorkflowEnvironment } from '../src/testing/index.js';
import { proxyActivities, sleep } from '../src/workflow/index.js';

const acts = {
  async greet(name: string) {
    return `Hello, ${name}`;
  },
};
const { greet } = proxyActivities<typeof acts>({ startToCloseTimeout: '10s' });
async function sayHello(name: string) {
  await sleep('1s');
  return await greet(name);
}

test('smoke', async () => {
  const env = await TestWorkflowEnvironment.create();
  const t0 = Date.now();
  await env.runWorker({ taskQueue: 'q', workflows: { sayHello }, activities: acts }, async () => {
    const r = await env.client.workflow.execute(sayHello, { id: 'x', taskQueue: 'q', args: ['World'] });
    expect(r).toBe('Hello, World');
  });
  console.log('took', Date.now() - t0);
  const h = env.client.workflow.getHandle('x');
  console.log((await h.fetchHistory()).map((e) => `${e.eventId} ${e.type}`).join('\n'));
  await env.teardown();
});
