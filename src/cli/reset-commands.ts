import { randomUUID } from 'node:crypto';
import { Argument, type Command, Option } from 'commander';
import pc from 'picocolors';
import {
  BULK_OPERATIONS,
  type BulkOperationKind,
  type BulkOperationResponse,
  RESET_TO,
  type ResetTo,
  WORKFLOW_STATUSES,
  type WorkflowStatus,
  type WorkflowSummary,
} from '../protocol/index.js';
import {
  addCommonOptions,
  type CommonOptions,
  cliIdentity,
  connectClient,
  integerOption,
  print,
  printJson,
} from './common.js';
import { CliError } from './errors.js';
import { formatDuration, formatStatus, formatTable, quoteArg, shortFailure } from './format.js';

/**
 * Re-driving runs from the command line: `workflow reset` (one run, from a
 * prefix of its history) and `workflow bulk` (terminate, cancel or reset
 * every run a filter matches, previewed first).
 */
export function registerResetCommands(workflow: Command): void {
  addCommonOptions(
    workflow
      .command('reset')
      .description(
        'start a new run from a prefix of a run’s history: the workflow task at the reset point runs again with ' +
          'the code deployed now, activities completed before it are not run again; the running run is terminated',
      )
      .argument('<workflowId>')
      .option('--run-id <runId>', 'the run to reset (default: the latest)')
      .addOption(
        new Option('--event-id <n>', 'reset to this WorkflowTaskCompleted event (see `workflow history`)').argParser(
          integerOption('--event-id', 1),
        ),
      )
      .option('--last-workflow-task', 'reset to the last completed workflow task')
      .option('--first-workflow-task', 'reset to the first completed workflow task (run it all again, same input)')
      .option('--reason <text>', 'why, recorded in both runs’ histories', 'reset with the tideway CLI')
      .option('--no-reapply-signals', 'do not deliver signals received after the reset point to the new run'),
  ).action(resetWorkflow);

  addCommonOptions(
    workflow
      .command('bulk')
      .description(
        'terminate, cancel or reset every workflow a filter matches; shows what would be affected unless --yes ' +
          '(terminate/cancel: running runs; reset: the latest run of each id)',
      )
      .addArgument(new Argument('<operation>', 'what to do with each run').choices(BULK_OPERATIONS))
      .addOption(new Option('--status <status>', 'only runs with this status').choices(WORKFLOW_STATUSES))
      .option('--type <workflowType>', 'only runs of this workflow type')
      .option('--id <workflowId>', 'only runs of this workflow id')
      .option('--failing', 'only runs whose workflow task keeps failing (see `workflow list --failing`)')
      .option('--reason <text>', 'why, recorded in each run’s history')
      .addOption(
        new Option('--reset-to <point>', 'for reset: where each run is reset to')
          .choices(RESET_TO)
          .default('last-workflow-task'),
      )
      .option('--no-reapply-signals', 'for reset: do not deliver signals received after the reset point')
      .addOption(
        new Option('--max-runs <n>', 'act on at most this many runs (newest first)')
          .default(1000)
          .argParser(integerOption('--max-runs', 1, 10_000)),
      )
      .addOption(
        new Option('--limit <n>', 'list at most this many runs')
          .default(20)
          .argParser(integerOption('--limit', 0, 1000)),
      )
      .option('--dry-run', 'only show how many runs, and which, would be affected')
      .option('--yes', 'do it (without --yes, the command only previews)'),
  ).action(bulkOperation);
}

interface ResetOptions extends CommonOptions {
  runId?: string;
  eventId?: number;
  lastWorkflowTask?: boolean;
  firstWorkflowTask?: boolean;
  reason: string;
  reapplySignals: boolean;
}

async function resetWorkflow(workflowId: string, options: ResetOptions): Promise<void> {
  const points = [options.eventId !== undefined, options.lastWorkflowTask, options.firstWorkflowTask].filter(Boolean);
  if (points.length !== 1) {
    throw new CliError(
      'give exactly one reset point: --event-id <n> (a WorkflowTaskCompleted event; see `tideway workflow history ' +
        `${quoteArg(workflowId)}\`), --last-workflow-task or --first-workflow-task`,
    );
  }
  const client = await connectClient(options);
  const response = await client.connection.api.resetWorkflow(client.namespace, {
    workflowId,
    ...(options.runId ? { runId: options.runId } : {}),
    ...(options.eventId !== undefined ? { toEventId: options.eventId } : {}),
    ...(options.lastWorkflowTask ? { toLastWorkflowTask: true } : {}),
    ...(options.firstWorkflowTask ? { toFirstWorkflowTask: true } : {}),
    reason: options.reason,
    reapplySignals: options.reapplySignals,
    requestId: randomUUID(),
    identity: cliIdentity(),
  });
  if (options.json) return printJson(response);
  print(`Reset workflow ${pc.bold(workflowId)}`);
  print(`  from run:   ${response.baseRunId} at event ${response.resetEventId}`);
  print(`  new run:    ${response.runId}`);
  if (response.terminatedRunId) print(`  terminated: ${response.terminatedRunId} (it was running)`);
  print(`  signals re-applied: ${response.reappliedSignals}`);
  print(pc.dim(`Wait for it with: tideway workflow result ${quoteArg(workflowId)}`));
}

interface BulkOptions extends CommonOptions {
  status?: WorkflowStatus;
  type?: string;
  id?: string;
  failing?: boolean;
  reason?: string;
  resetTo: ResetTo;
  reapplySignals: boolean;
  maxRuns: number;
  limit: number;
  dryRun?: boolean;
  yes?: boolean;
}

const PAST_TENSE: Record<BulkOperationKind, string> = {
  terminate: 'terminated',
  cancel: 'asked to cancel',
  reset: 'reset',
};

async function bulkOperation(operation: string, options: BulkOptions): Promise<void> {
  const kind = operation as BulkOperationKind;
  const dryRun = Boolean(options.dryRun) || !options.yes;
  const client = await connectClient(options);
  const response = await client.connection.api.bulkWorkflowOperation(client.namespace, {
    operation: kind,
    filter: {
      ...(options.status ? { status: options.status } : {}),
      ...(options.type ? { workflowType: options.type } : {}),
      ...(options.id ? { workflowId: options.id } : {}),
      ...(options.failing ? { workflowTaskFailing: true } : {}),
    },
    ...(options.reason ? { reason: options.reason } : {}),
    resetTo: options.resetTo,
    reapplySignals: options.reapplySignals,
    maxRuns: options.maxRuns,
    listLimit: options.limit,
    dryRun,
    identity: cliIdentity(),
  });
  // Asked to act but not confirmed: a preview, and a non-zero exit so a script notices nothing happened.
  if (dryRun && !options.dryRun) process.exitCode = 1;
  if (options.json) return printJson(response);
  printBulkResponse(response, options);
}

function printBulkResponse(response: BulkOperationResponse, options: BulkOptions): void {
  const verb = PAST_TENSE[response.operation];
  if (response.dryRun) {
    print(
      `${response.matched} run(s) match; ${response.affected} would be ${verb}` +
        (response.truncated ? ` (at most --max-runs ${options.maxRuns} per call)` : ''),
    );
  } else {
    print(
      `${response.affected} run(s) ${verb}` +
        (response.notAffected > 0 ? `, ${response.notAffected} not (see below)` : '') +
        (response.truncated ? `; more match: run it again for the rest` : ''),
    );
  }
  if (response.runs.length > 0) {
    const rows = response.runs.map((r) => [
      r.workflowId,
      r.runId,
      r.workflowType,
      formatStatus(r.status),
      ...(response.dryRun ? [] : [r.outcome ?? '', r.newRunId ? `new run ${r.newRunId}` : (r.error ?? '')]),
    ]);
    const headers = ['WORKFLOW ID', 'RUN ID', 'TYPE', 'STATUS', ...(response.dryRun ? [] : ['OUTCOME', 'DETAIL'])];
    print(formatTable(headers, rows));
    const shown = response.dryRun ? response.affected : response.affected + response.notAffected;
    if (shown > response.runs.length) print(pc.dim(`(listing ${response.runs.length}; raise --limit to see more)`));
  }
  if (response.dryRun && !options.dryRun && response.affected > 0) {
    print(pc.yellow(`Nothing was changed. Run again with --yes to ${response.operation} them.`));
  }
}

/** The dead-letter view of `workflow list --failing`: why each run's workflow task fails, how often, what next. */
export function formatFailingRuns(executions: readonly WorkflowSummary[], now: number): string {
  const rows = executions.map((w) => {
    const failure = w.workflowTaskFailure;
    const next =
      failure?.nextAttemptTime === undefined
        ? 'running now'
        : failure.nextAttemptTime <= now
          ? 'due'
          : `in ${formatDuration(failure.nextAttemptTime - now)}`;
    return [
      w.workflowId,
      w.workflowType,
      String(failure?.failures ?? 0),
      failure?.cause ?? '',
      next,
      shortFailure(failure?.lastFailure),
    ];
  });
  return formatTable(['WORKFLOW ID', 'TYPE', 'FAILURES', 'CAUSE', 'NEXT ATTEMPT', 'LAST ERROR'], rows);
}
