import type { Command } from 'commander';
import pc from 'picocolors';
import { fromPayload, type WorkflowDescription } from '../protocol/index.js';
import { addCommonOptions, type CommonOptions, connectClient, print, printJson } from './common.js';
import {
  formatDuration,
  formatFailure,
  formatJson,
  formatKeyValues,
  formatStatus,
  formatTable,
  formatTimestamp,
  shortFailure,
} from './format.js';

/** Registers `tideway workflow describe <id>`: status, times, result or failure, and what is pending. */
export function registerDescribeCommand(workflow: Command): void {
  addCommonOptions(
    workflow
      .command('describe')
      .description('show a workflow run: status, times, pending activities and workflow task')
      .argument('<workflowId>')
      .option('--run-id <runId>', 'a specific run (default: the latest)'),
  ).action(describeWorkflow);
}

async function describeWorkflow(workflowId: string, options: CommonOptions & { runId?: string }): Promise<void> {
  const client = await connectClient(options);
  const description = await client.workflow.getHandle(workflowId, options.runId).describe();
  if (options.json) return printJson(description);
  print(formatDescription(description, Date.now()));
}

/** The human view of a description; `now` gives running workflows their age. */
export function formatDescription(d: WorkflowDescription, now: number): string {
  const duration =
    d.closeTime === undefined
      ? `${formatDuration(now - d.startTime)} so far`
      : formatDuration(d.closeTime - d.startTime);
  const sections = [
    formatKeyValues([
      ['Workflow id', pc.bold(d.workflowId)],
      ['Run id', d.runId],
      ['Type', d.workflowType],
      ['Task queue', d.taskQueue],
      ['Status', formatStatus(d.status)],
      ['Started', formatTimestamp(d.startTime)],
      ['Closed', d.closeTime === undefined ? undefined : formatTimestamp(d.closeTime)],
      ['Duration', duration],
      ['History length', `${d.historyLength} events`],
      ['Continued as', d.nextRunId],
      [
        'Unhandled signals',
        d.bufferedSignals.length > 0 ? `${d.bufferedSignals.join(', ')} (no handler set yet)` : undefined,
      ],
      ['Result', d.status === 'completed' ? formatJson(fromPayload(d.result)) : undefined],
    ]),
  ];
  if (d.failure) sections.push(`${pc.red('Failure:')}\n${indent(formatFailure(d.failure))}`);
  sections.push(formatPendingActivities(d, now), formatPendingWorkflowTask(d));
  return sections.join('\n\n');
}

function formatPendingActivities(d: WorkflowDescription, now: number): string {
  if (d.pendingActivities.length === 0) return `Pending activities: ${pc.dim('none')}`;
  const rows = d.pendingActivities.map((a) => [
    a.activityId,
    a.activityType,
    a.state,
    String(a.attempt),
    a.nextAttemptTime === undefined ? '' : `in ${formatDuration(Math.max(0, a.nextAttemptTime - now))}`,
    shortFailure(a.lastFailure),
  ]);
  const table = formatTable(['ID', 'TYPE', 'STATE', 'ATTEMPT', 'NEXT ATTEMPT', 'LAST FAILURE'], rows);
  return `Pending activities (${d.pendingActivities.length}):\n${indent(table)}`;
}

function formatPendingWorkflowTask(d: WorkflowDescription): string {
  const task = d.pendingWorkflowTask;
  if (!task) return `Pending workflow task: ${pc.dim('none')}`;
  const lastFailure = task.lastFailure
    ? `, last failure: ${task.lastFailure.type}: ${shortFailure(task.lastFailure)}`
    : '';
  return `Pending workflow task: ${task.state}, attempt ${task.attempt}${lastFailure}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
