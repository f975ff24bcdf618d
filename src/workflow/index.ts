// What workflow code imports, and the deterministic runtime under it:
// workflows are plain async functions; every decision they make is recorded
// in history and replayed, so they must be deterministic (see determinism.ts).
import { installDeterminism } from './determinism.js';

installDeterminism();

export {
  ActivityFailure,
  ApplicationFailure,
  type ApplicationFailureOptions,
  CancelledFailure,
  ChildWorkflowFailure,
  isCancellation,
  TerminatedFailure,
  TidewayFailure,
  TimeoutFailure,
} from '../protocol/index.js';
export {
  type ActivityFunction,
  type ActivityInterfaceFor,
  type ActivityOptions,
  executeActivity,
  proxyActivities,
  type RetryOptions,
} from './activities.js';
export {
  deprecatePatch,
  inWorkflowContext,
  milestone,
  patched,
  sideEffect,
  sleep,
  uuid4,
  workflowInfo,
} from './api.js';
export { CancellationScope } from './cancellation-scope.js';
export { type ChildWorkflowHandle, type ChildWorkflowOptions, executeChild, startChild } from './children.js';
export { continueAsNew } from './continue-as-new.js';
export { DeterminismViolationError, NonDeterminismError } from './errors.js';
export type { WorkflowFunction, WorkflowInfo } from './instance.js';
export {
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  type QueryDefinition,
  type SignalDefinition,
  setHandler,
  type UpdateDefinition,
} from './signals.js';
