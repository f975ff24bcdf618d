// Clients: start workflows, wait for results, describe and list them. Talks
// to a server over HTTP, or to an engine in the same process.
export {
  ActivityFailure,
  ApplicationFailure,
  type BulkFilter,
  type BulkOperationResponse,
  CancelledFailure,
  ChildWorkflowFailure,
  type TaskEvent,
  TerminatedFailure,
  TidewayApiError,
  TidewayFailure,
  TimeoutFailure,
} from '../protocol/index.js';
export { ActivityCompletionClient } from './activity-completion.js';
export { Client, type ClientOptions, WorkflowClient, type WorkflowStartOptions } from './client.js';
export { type Connection, type ConnectionOptions, checkCompatible, connectHttp } from './connection.js';
export { WorkflowFailedError, WorkflowUpdateFailedError } from './errors.js';
export { DEFAULT_ADDRESS, HttpTransport, normalizeAddress } from './http-transport.js';
export { type WatchEventsOptions, watchTaskEvents } from './watch-events.js';
export { type ResetPoint, WorkflowHandle, WorkflowUpdateHandle } from './workflow-handle.js';
