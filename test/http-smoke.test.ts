import { expect, test } from 'vitest';
import { Client } from '../src/client/index.js';
import { startServer } from '../src/server/index.js';
import { Worker } from '../src/worker/index.js';
import { proxyActivities, sleep } from '../src/workflow/index.js';

const acts = {
  async greet(name: string) {
    return `Hello, ${name}`;
  },
};
const { greet } = proxyActivities<typeof acts>({ startToCloseTimeout: '10s' });
async function sayHello(name: string) {
  await sleep('100ms');
  return await greet(name);
}

test('http smoke', async () => {
  const server = await startServer({ port: 0, inMemory: true });
  const worker = await Worker.create({
    address: server.url,
    taskQueue: 'q',
    workflows: { sayHello },
    activities: acts,
    handleSignals: false,
  });
  const running = worker.run();
  const client = await Client.connect({ address: server.url });
  const t0 = Date.now();
  expect(await client.workflow.execute(sayHello, { id: 'x', taskQueue: 'q', args: ['World'] })).toBe('Hello, World');
  console.log('took', Date.now() - t0);
  const bad = await fetch(`${server.url}/api/v1/namespaces/default/workflows`, {
    method: 'POST',
    body: '{nope',
    headers: { 'content-type': 'application/json' },
  });
  console.log(bad.status, await bad.text());
  const bad2 = await fetch(`${server.url}/api/v1/namespaces/default/workflows`, {
    method: 'POST',
    body: JSON.stringify({ workflowId: 'a', workflowType: 3 }),
    headers: { 'content-type': 'application/json' },
  });
  console.log(bad2.status, await bad2.text());
  const t1 = Date.now();
  await worker.shutdown();
  await running;
  console.log('shutdown', Date.now() - t1);
  await server.close();
}, 30000);
