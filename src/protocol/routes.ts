import type { TidewayApi } from './api.js';

/**
 * Where each API operation lives over HTTP. The server registers these
 * routes and the HTTP client builds its URLs from the same table. Path
 * parameters are `{name}`; `namespace` is in every namespaced path.
 */
export const API_ROUTES = {
  clusterInfo: { method: 'get', path: '/api/cluster/info' },
  startWorkflow: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflows' },
  startWorkflows: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflow-starts' },
  listWorkflows: { method: 'get', path: '/api/v1/namespaces/{namespace}/workflows' },
  describeWorkflow: { method: 'get', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}' },
  getWorkflowResult: { method: 'get', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}/result' },
  getWorkflowHistory: { method: 'get', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}/history' },
  signalWorkflow: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}/signal' },
  signalWithStart: { method: 'post', path: '/api/v1/namespaces/{namespace}/signal-with-start' },
  cancelWorkflow: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}/cancel' },
  terminateWorkflow: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}/terminate' },
  resetWorkflow: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}/reset' },
  bulkWorkflowOperation: { method: 'post', path: '/api/v1/namespaces/{namespace}/bulk-operations' },
  queryWorkflow: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}/query' },
  updateWorkflow: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}/update' },
  respondQueryTask: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflow-tasks/respond-query' },
  pollWorkflowTask: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflow-tasks/poll' },
  completeWorkflowTask: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflow-tasks/complete' },
  failWorkflowTask: { method: 'post', path: '/api/v1/namespaces/{namespace}/workflow-tasks/fail' },
  pollActivityTask: { method: 'post', path: '/api/v1/namespaces/{namespace}/activity-tasks/poll' },
  completeActivityTask: { method: 'post', path: '/api/v1/namespaces/{namespace}/activity-tasks/complete' },
  failActivityTask: { method: 'post', path: '/api/v1/namespaces/{namespace}/activity-tasks/fail' },
  heartbeatActivityTask: { method: 'post', path: '/api/v1/namespaces/{namespace}/activity-tasks/heartbeat' },
  recordActivityEvents: { method: 'post', path: '/api/v1/namespaces/{namespace}/activity-tasks/events' },
  fireTimer: { method: 'post', path: '/api/v1/namespaces/{namespace}/timers/fire' },
  submitWorkerReports: { method: 'post', path: '/api/v1/namespaces/{namespace}/worker/reports' },
  listTaskEvents: { method: 'get', path: '/api/v1/namespaces/{namespace}/workflows/{workflowId}/events' },
} as const satisfies Record<keyof TidewayApi, { method: 'get' | 'post'; path: string }>;

/** Fills `{name}` placeholders, URL-encoding each value (ids may contain '/'). */
/** Server-Sent Events stream of a run's task events (not a JSON operation, so not in API_ROUTES). */
export const TASK_EVENT_STREAM_PATH = '/api/v1/namespaces/{namespace}/workflows/{workflowId}/events/stream';

export function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
}
