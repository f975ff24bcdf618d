// The engine: the history state machine. Commands become events, events
// become workflow and activity tasks, timers fire, retries back off; each
// state transition is one transaction guarded by the run's next event id.

export { nextActivityDeadline } from './activity-deadline.js';
export { applyWorkflowTaskCompletion, type CompletionInput, type CompletionOutput } from './apply-commands.js';
export { type Clock, OffsetClock, systemClock } from './clock.js';
export { DEFAULT_MAX_PAYLOAD_BYTES, Engine, type EngineOptions } from './engine.js';
export { decideRetry } from './retry.js';
