// Tideway: durable workflows for TypeScript on PostgreSQL. The root export
// gathers what applications use most; each layer also has its own subpath
// (tideway/client, tideway/worker, tideway/workflow, tideway/activity, …).
export {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  Client,
  type ClientOptions,
  TerminatedFailure,
  TidewayApiError,
  TidewayFailure,
  TimeoutFailure,
  WorkflowFailedError,
  WorkflowHandle,
  type WorkflowStartOptions,
} from './client/index.js';
export { type Duration, SERVER_VERSION } from './protocol/index.js';
export { Worker, type WorkerOptions } from './worker/index.js';
