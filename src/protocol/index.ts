// The wire: zod schemas for events, commands, tasks, failures and payloads,
// plus protocol versions. Everything that crosses a process boundary is
// defined here and nowhere else.
export * from './api.js';
export * from './commands.js';
export * from './duration.js';
export * from './errors.js';
export * from './events.js';
export * from './failure.js';
export * from './failure-errors.js';
export * from './payload.js';
export * from './reset.js';
export * from './retry-policy.js';
export * from './routes.js';
export * from './start-batches.js';
export * from './task-events.js';
export * from './timer-wake-api.js';
export * from './turns.js';
export * from './version.js';
export * from './worker-api.js';
export * from './worker-reports.js';
