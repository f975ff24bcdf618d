import type { Client } from '../../src/client/index.js';
import { replayHistory } from '../../src/testing/index.js';
import type { WorkflowFunction } from '../../src/workflow/index.js';

/**
 * After a suite: replays every run it created, from its recorded history,
 * through the workflow code it ran, and reports any run that would not
 * replay (non-determinism in the runtime or in a test workflow). Suites that
 * deliberately run two versions of a workflow under one name opt out.
 */
export async function replayAllRuns(
  client: Client,
  workflowsByType: ReadonlyMap<string, WorkflowFunction>,
): Promise<string[]> {
  const problems: string[] = [];
  for await (const run of client.workflow.list({ pageSize: 500 })) {
    const fn = workflowsByType.get(run.workflowType);
    if (!fn) continue;
    const events = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    try {
      await replayHistory(fn, events, { workflowId: run.workflowId, runId: run.runId });
    } catch (error) {
      problems.push(`${run.workflowId} (${run.workflowType}, run ${run.runId}): ${(error as Error).message}`);
    }
  }
  return problems;
}
