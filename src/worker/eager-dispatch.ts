import type { ActivityTask, Command, Payload, WorkflowTask } from '../protocol/index.js';
import type { RunAhead } from './workflow-executor.js';

/**
 * The worker's side of eager dispatch: before a completion, reserve free
 * slots for the tasks the server may hand back in its response; after it,
 * run what came back and return the slots that were not used.
 */
export interface EagerDispatch {
  /**
   * Reserves slots for the activities these commands schedule that this
   * worker can run (on its queue, of a registered type); undefined if none.
   */
  offerActivities(
    taskQueue: string,
    commands: readonly Command[],
  ): { max: number; types: string[]; release(unused: number): void } | undefined;
  /** Runs activities handed back by a completion, in the slots reserved for them. */
  runActivities(tasks: readonly ActivityTask[]): void;
  /** Reserves a workflow slot if this worker runs `workflowType` on `taskQueue`; undefined otherwise. */
  offerWorkflowTask(workflowType: string, taskQueue: string): { release(): void } | undefined;
  /**
   * As `offerWorkflowTask`, but waits up to `maxWaitMs` for a slot to free up (a timer report or an
   * activity result, which would otherwise send its task through the queue), ahead of the poll loop's
   * wait for a slot to take new work in; undefined if none did.
   */
  waitForWorkflowSlot(
    workflowType: string,
    taskQueue: string,
    maxWaitMs: number,
  ): Promise<{ release(): void } | undefined>;
  /** Runs a workflow task handed back by an activity completion, in the reserved slot. */
  runWorkflowTask(task: WorkflowTask): void;
  /**
   * Runs the workflow task an activity result creates ahead of reporting it, from the cached run,
   * so the result carries that task's completion (in a workflow slot reserved with `offerWorkflowTask`).
   */
  runAhead(activity: ActivityTask, result: Payload): Promise<RunAhead | undefined>;
}
