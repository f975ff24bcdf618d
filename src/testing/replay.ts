import type { HistoryEvent } from '../protocol/index.js';
import { installDeterminism } from '../workflow/determinism.js';
import { type WorkflowFunction, WorkflowInstance } from '../workflow/instance.js';

/**
 * Replays a recorded history through workflow code, as a worker would after
 * a crash. Throws `NonDeterminismError` when today's code would make
 * different decisions than the code that produced the history: run it in CI
 * over histories recorded from real runs, so a change that breaks workflows
 * already in flight fails a test instead of production.
 */
export async function replayHistory(
  workflow: WorkflowFunction,
  history: readonly HistoryEvent[],
  run: { workflowId?: string; runId?: string } = {},
): Promise<void> {
  installDeterminism();
  const started = history[0];
  if (started?.type !== 'WorkflowExecutionStarted') {
    throw new Error('a history starts with WorkflowExecutionStarted; pass the whole history from event 1');
  }
  const instance = new WorkflowInstance(
    {
      namespace: 'replay',
      // The run id seeds Math.random(); pass the real one when the code's decisions depend on it.
      workflowId: run.workflowId ?? 'replay',
      runId: run.runId ?? 'replay',
      workflowType: started.attributes.workflowType,
      taskQueue: started.attributes.taskQueue,
    },
    workflow,
  );
  await instance.consume(history);
  instance.checkReplayComplete();
  if (instance.violation) throw instance.violation;
}
