import { z } from 'zod';
import { type NextWorkflowTaskOutcome, NextWorkflowTaskOutcomeSchema, NextWorkflowTaskSchema } from './worker-api.js';

/*
 * A worker reporting a timer of a run it holds in memory as due, from its
 * own clock (it promised to with `wakesTimers`). The engine fires the timer
 * if its own clock agrees, and records `next` with it: the workflow task the
 * fired timer creates, run ahead by the worker, as an activity result may
 * carry it (see NextWorkflowTaskSchema).
 */
export const FireTimerRequestSchema = z
  .object({
    runId: z.string().min(1).max(1000),
    /** The id of the StartTimer command (`timerId` of its TimerStarted event). */
    timerId: z.string().min(1).max(1000),
    identity: z.string().max(1000).default('unknown'),
    /**
     * The completion of the workflow task the fired timer creates, worked out ahead: recorded with the
     * timer if the run's history still ends at `afterEventId` and no workflow task is pending; otherwise
     * the timer fires alone and its workflow task goes through the queue.
     */
    next: NextWorkflowTaskSchema.optional(),
  })
  .meta({ id: 'FireTimerRequest' });
export type FireTimerRequest = z.input<typeof FireTimerRequestSchema>;

export const FireTimerResponseSchema = z
  .object({
    /**
     * `fired`: TimerFired is recorded now. `not-due`: the engine's clock says the timer is due in
     * `dueInMs` (clocks differ); nothing changed, report again then. `gone`: nothing to fire; the
     * timer already fired, was cancelled, or its run closed.
     */
    outcome: z.enum(['fired', 'not-due', 'gone']),
    dueInMs: z.number().int().min(0).optional(),
    /** Whether `next` was recorded with the timer (only when it fired), and what it appended. */
    next: NextWorkflowTaskOutcomeSchema.optional(),
  })
  .meta({ id: 'FireTimerResponse' });
export type FireTimerResponse = {
  outcome: 'fired' | 'not-due' | 'gone';
  dueInMs?: number;
  next?: NextWorkflowTaskOutcome;
};
