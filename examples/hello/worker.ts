// Runs the hello workflows and activities: polls the "hello" task queue of
// the server at TIDEWAY_ADDRESS (default http://127.0.0.1:7233) until Ctrl-C.
import { Worker } from 'tideway/worker';
import * as activities from './activities.js';
import * as workflows from './workflows.js';

const worker = await Worker.create({ taskQueue: 'hello', workflows, activities });
await worker.run();
