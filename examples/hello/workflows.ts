// Workflows are plain async functions whose every step is recorded; if the
// worker dies mid-way, another worker replays the history and carries on.
import { proxyActivities, sleep } from 'tideway/workflow';
// A type-only import: workflow code never runs activity code itself.
import type * as activities from './activities.js';

const { greet } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 5 },
});

/** Waits one second on a durable timer, then greets `name` through the greet activity. */
export async function sayHello(name: string): Promise<string> {
  await sleep('1s');
  return await greet(name);
}
