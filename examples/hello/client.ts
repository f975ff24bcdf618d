// Starts sayHello on the server at TIDEWAY_ADDRESS (default
// http://127.0.0.1:7233) and prints its result once a worker has run it.
import { Client } from 'tideway/client';
// Only the workflow's type: the client never loads workflow code.
import type { sayHello } from './workflows.js';

const client = await Client.connect();
const handle = await client.workflow.start<typeof sayHello>('sayHello', {
  id: `hello-${Date.now()}`,
  taskQueue: 'hello',
  args: ['World'],
});
console.log(`Started workflow ${handle.workflowId} (run ${handle.runId})`);
console.log(`Result: ${await handle.result()}`);
