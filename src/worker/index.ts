// Workers: poll task queues, replay workflows (with a sticky cache) and run
// activities. Workflow and activity code are plain functions registered by name.
export { consoleLogger, type Logger } from './logger.js';
export { Worker, type WorkerOptions } from './worker.js';
